"""Fields shown as what they are: by their eunomia/types.bpf.h typedef, or by --format;
--fields picks and orders the columns."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time

import pytest

from .conftest import needs_clang, needs_root, wait_until

pytestmark = [needs_root, needs_clang]


def cause_activity(port: int) -> subprocess.Popen:
    """A kill -USR1, a failed open and a TCP connect to 127.0.0.1:port, by this process."""
    child = subprocess.Popen(["sleep", "30"])
    os.kill(child.pid, signal.SIGUSR1)
    child.wait()
    try:
        open("/nonexistent/eunomia-format-test")
    except FileNotFoundError:
        pass
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    return child


@pytest.fixture
def listener():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        yield server.getsockname()[1]


def test_typedefs_make_fields_readable(fixture_package, ecli, listener):
    run = ecli("--json", fixture_package("typed"), "--targ_tgid", os.getpid())
    run.wait_attached()
    cause_activity(listener)
    kill = run.wait_event(lambda e: e["kind"] == "kill" and e["sig"] == "SIGUSR1")
    opened = run.wait_event(lambda e: e["kind"] == "open" and e["ret"] == "ENOENT")
    connect = run.wait_event(lambda e: e["kind"] == "conn")
    assert (connect["daddr"], connect["dport"]) == ("127.0.0.1", listener)
    for event in (kill, opened, connect):
        assert event["uid"] == "root" and event["pid"] == os.getpid()
        assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{6}", event["ts"])
        # the kernel's monotonic nanoseconds, shown as wall-clock time: within a minute
        hours, minutes, seconds = (float(part) for part in event["ts"].split(":"))
        now = time.localtime()
        gap = (now.tm_hour * 3600 + now.tm_min * 60 + now.tm_sec
               - (hours * 3600 + minutes * 60 + seconds)) % 86400
        assert gap < 60 or gap > 86400 - 60
    run.stop()


def test_the_table_shows_them_too_and_fields_picks_columns(fixture_package, ecli, listener):
    run = ecli(fixture_package("typed"), "--targ_tgid", os.getpid(),
               "--fields", "kind,sig,ret,daddr,dport")
    run.wait_attached()
    cause_activity(listener)
    row = run.wait_line(lambda ln: "SIGUSR1" in ln, what="the kill row")
    assert run.lines[0].split() == ["TIME", "KIND", "SIG", "RET", "DADDR", "DPORT"]
    assert row.split()[1:] == ["kill", "SIGUSR1", "0", "0.0.0.0", "0"]
    conn = run.wait_line(lambda ln: " conn " in ln, what="the connect row")
    assert conn.split()[-2:] == ["127.0.0.1", str(listener)]
    run.stop()


def test_format_option_reads_a_program_written_without_the_types(example_package, ecli):
    """opensnoop's `ret` is a plain int: --format ret=errno names the failure."""
    run = ecli("--json", example_package("opensnoop"), "--targ_tgid", os.getpid(),
               "--format", "ret=errno", "--fields", "fname,ret")
    run.wait_attached()

    def failed_open_seen():
        try:
            open("/nonexistent/eunomia-errno-test")
        except FileNotFoundError:
            pass
        return next((e for e in run.json_events()
                     if e["fname"] == "/nonexistent/eunomia-errno-test"), None)
    event = wait_until(failed_open_seen, 15, what="the failed open")
    assert event == {"fname": "/nonexistent/eunomia-errno-test", "ret": "ENOENT"}
    run.stop()


@pytest.mark.parametrize("words, message", [
    (["--format", "nope=errno"], "--format names no field 'nope'"),
    (["--format", "ret=colour"], "unknown format 'colour'"),
    (["--fields", "pid,bogus"], "--fields names no field 'bogus'"),
])
def test_format_and_fields_mistakes_are_one_line(example_package, words, message):
    from .conftest import run_ecli
    result = run_ecli("run", "--duration", "0.2", example_package("opensnoop"), *words)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert message in result.stderr.strip().splitlines()[-1]
