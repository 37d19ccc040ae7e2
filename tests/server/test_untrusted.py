"""Packages from others are checked in a child process first (parse, BTF, libbpf open):
whatever happens there is one error for that request, and the server with its other
tasks lives on."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import threading

import pytest

from eunomia.cli.client import ClientError
from eunomia.errors import PackageError
from eunomia.runtime.untrusted import check_untrusted
from tests.fuzz.harness import object_of, rename_in_strtab, with_object
from tests.kernel.conftest import exit_child, wait_until

from .conftest import pytestmark, start_body  # noqa: F401


def test_the_check_passes_a_package_and_says_what_is_wrong_with_others(exitsnoop_package):
    check_untrusted(exitsnoop_package)
    with pytest.raises(PackageError, match="missing 'bpf_object'"):
        check_untrusted(b"{}")
    with pytest.raises(PackageError, match="did not end within"):
        check_untrusted(exitsnoop_package, seconds=0.0001)


def test_a_check_that_crashes_is_one_error(exitsnoop_package):
    """A crash in libbpf cannot be made to happen here any more (the double close is
    fixed): the checking child gets the signal such a crash would raise, from outside.
    The package carries 48 MiB of padding after its ELF data, so that its check lasts
    long enough to be found."""
    seed = json.loads(exitsnoop_package)
    padded = with_object(seed, object_of(seed) + bytes(48 << 20))
    result = {}

    def check():
        try:
            check_untrusted(padded, seconds=120)
            result["answer"] = None
        except PackageError as exc:
            result["answer"] = str(exc)
    before = {p.pid for p in multiprocessing.active_children()}
    thread = threading.Thread(target=check)
    thread.start()
    child = wait_until(lambda: next((p for p in multiprocessing.active_children()
                                     if p.pid not in before), None), 30, 0.001,
                       what="the checking child")
    os.kill(child.pid, signal.SIGSEGV)
    thread.join(120)
    assert "crashed the process that checked it (SIGSEGV)" in result["answer"]


def test_a_server_survives_a_hostile_package_and_keeps_its_tasks(server, exitsnoop_package):
    running = server()
    client = running.client()
    task = client.call("POST", "/task", start_body(exitsnoop_package, "--json"))
    seed = json.loads(exitsnoop_package)
    hostile = with_object(seed, rename_in_strtab(object_of(seed), b"handle_exit",
                                                 b"handle\xffexit"))
    for _ in range(3):
        with pytest.raises(ClientError, match="not valid UTF-8"):
            client.call("POST", "/task", start_body(hostile))
    pid = exit_child(7)
    wait_until(lambda: any(json.loads(e["text"]).get("pid") == pid for e in client.call(
        "POST", "/log", {"id": task["id"]})["log"] if e["kind"] == "event"), 15,
        what="the earlier task to record the child")
    assert client.call("GET", "/health") == {"status": "ok"}
