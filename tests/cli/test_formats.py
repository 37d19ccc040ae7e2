"""Fields shown as what they are: by their eunomia/types.bpf.h typedef, or by --format;
--fields picks and orders the columns."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import needs_clang, needs_root, wait_until

pytestmark = [needs_root, needs_clang]


def cause_activity(port: int) -> subprocess.Popen:
    """A kill -USR1, a failed open and a TCP connect to 127.0.0.1:port, by this process."""
    child = subprocess.Popen(["sleep", "30"])
    os.kill(child.pid, signal.SIGUSR1)
    child.wait()
    try:
        os.close(os.open("/nonexistent/eunomia-format-test", os.O_RDONLY))
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
    from pathlib import Path
    v2 = [line for line in Path("/proc/self/cgroup").read_text().splitlines()
          if line.startswith("0::")]
    cgroup = v2[0][3:] if v2 else None
    for event in (kill, opened, connect):
        assert event["uid"] == "root" and event["pid"] == os.getpid()
        if cgroup is not None:          # a cgroup v2 hierarchy: its path
            assert event["cgroup"] == cgroup
        assert event["mntns"] == os.readlink("/proc/self/ns/mnt")
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
    """--format overrides a field's type: opensnoop's `ret` read as an errno."""
    run = ecli("--json", example_package("opensnoop"), "--targ_tgid", os.getpid(),
               "--format", "ret=errno", "--fields", "fname,ret")
    run.wait_attached()

    def failed_open_seen():
        try:
            os.close(os.open("/nonexistent/eunomia-errno-test", os.O_RDONLY))
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


def _exits(ecli, example_package, *args, codes=(3, 0)):
    run = ecli(example_package("exitsnoop"), *args)
    run.wait_attached()
    pids = []
    for code in codes:
        child = subprocess.Popen(["sh", "-c", f"exit {code}"])
        child.wait()
        pids.append(child.pid)
    return run, pids


def test_filters_keep_what_they_say(example_package, ecli):
    run, (three, zero) = _exits(ecli, example_package, "--json", "--filter", "exit_code==3",
                                "--filter", "comm~^s")
    run.wait_event(lambda e: e["pid"] == three)
    marker = subprocess.Popen(["sh", "-c", "exit 3"])     # comes after the exit 0
    marker.wait()
    run.wait_event(lambda e: e["pid"] == marker.pid)
    events = run.json_events()
    assert zero not in {e["pid"] for e in events}
    assert {e["exit_code"] for e in events} == {3}
    assert all(e["comm"].startswith("s") for e in events)
    run.stop()


def test_csv_and_yaml_output(example_package, ecli):
    import yaml
    run, [three] = _exits(ecli, example_package, "-o", "csv", "--fields",
                             "pid,exit_code,comm", "--filter", "exit_code==3", codes=(3,))
    row = run.wait_line(lambda ln: ln.split(",")[1:2] == [str(three)], what="a CSV row")
    assert run.lines[0] == "time,pid,exit_code,comm"
    assert row.split(",")[1:] == [str(three), "3", "sh"]
    run.stop()
    run, [three] = _exits(ecli, example_package, "--output", "yaml", "--filter",
                             "exit_code==3", codes=(3,))
    wait_until(lambda: f"pid: {three}" in "\n".join(run.lines), 15, what="a YAML record")
    run.stop()
    documents = [d for d in yaml.safe_load_all("\n".join(run.lines)) if d]
    mine = next(d for d in documents if d["pid"] == three)
    assert mine["exit_code"] == 3 and mine["comm"] == "sh" and "time" in mine


def test_filters_are_pushed_into_matching_globals(example_package):
    """opensnoop has targ_pid: --filter pid==N sets it, so the kernel filters too."""
    import eunomia
    from eunomia.session import parse_run_args
    package = eunomia.Package.load(str(example_package("opensnoop")))
    settings = parse_run_args(package, ["--filter", "pid==4242"])
    assert settings.values.get("targ_pid") == 4242
    given = parse_run_args(package, ["--filter", "pid==4242", "--targ_pid", "7"])
    assert given.values["targ_pid"] == 7            # what the user set wins
    assert "targ_pid" not in parse_run_args(package, ["--filter", "pid>4242"]).values
    # bounds go to min_/max_ globals (bootstrap's min_duration_ns): inclusive there,
    # exact in user space
    bootstrap = eunomia.Package.load(str(example_package("bootstrap")))
    bounded = parse_run_args(bootstrap, ["--filter", "duration_ns>5000000"])
    assert bounded.values["min_duration_ns"] == 5000000
    assert "min_duration_ns" not in parse_run_args(
        bootstrap, ["--filter", "duration_ns!=5"]).values


def test_a_number_filters_a_typed_field_by_its_value(example_package, ecli):
    """exitsnoop's duration_ns shows as "1.128ms"; `--filter duration_ns>N` still compares
    nanoseconds, and a text condition compares the readable form."""
    run = ecli("--json", example_package("exitsnoop"), "--filter", "duration_ns>300000000",
               "--filter", "comm==sleep")
    run.wait_attached()
    quick = subprocess.Popen(["sleep", "0.01"])
    slow = subprocess.Popen(["sleep", "0.5"])
    quick.wait()
    slow.wait()
    event = run.wait_event(lambda e: e["pid"] == slow.pid, what="the slow sleep's exit")
    assert event["duration_ns"].endswith("ms")
    assert quick.pid not in {e["pid"] for e in run.json_events()}
    assert all(e["comm"] == "sleep" for e in run.json_events())
    run.stop()


def _getppid_child() -> subprocess.Popen:
    import sys
    code = "import os, sys; sys.stdin.readline(); os.getppid()"
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, text=True)


@pytest.mark.parametrize("mode", ["json", "table", "folded"])
def test_kernel_stacks_show_as_frames(fixture_package, ecli, mode):
    """A stack id typed eunomia_kstack_t: JSON has the frames (innermost first), the table
    and --stacks folded the collapsed form (root first)."""
    child = _getppid_child()
    words = {"json": ["--json"], "table": [], "folded": ["--stacks", "folded"]}[mode]
    run = ecli(*words, fixture_package("stacks"), "--targ_tgid", child.pid,
               *(["--fields", "pid,kstack"] if mode == "table" else []))
    run.wait_attached()
    child.stdin.write("go\n")
    child.stdin.flush()
    child.wait()
    if mode == "json":
        event = run.wait_event(lambda e: e["pid"] == child.pid)
        assert any(frame.startswith("do_syscall_64+0x") for frame in event["kstack"])
        # the child may be gone when its user stack is shown: addresses, not a failure
        assert isinstance(event["ustack"], list) and event["ustack"]
        assert event["kstack"].index(next(f for f in event["kstack"]
                                          if f.startswith("do_syscall_64"))) > 0
    else:
        line = run.wait_line(lambda ln: "do_syscall_64+0x" in ln, what="the stack")
        folded = line.split()[-2] if mode == "folded" else line.split()[-1]
        frames = folded.split(";")
        if mode == "folded":
            assert line.endswith(" 1") and frames[0] == "python3"
        names = [frame.split("+")[0] for frame in frames]
        # root first: the syscall entry comes before the function it calls
        assert names.index("do_syscall_64") < len(names) - 1
    run.stop()


def test_stacks_folded_needs_a_stack_field(example_package):
    from .conftest import run_ecli
    result = run_ecli("run", "--duration", "0.2", example_package("exitsnoop"), "--stacks",
                      "folded")
    assert result.returncode == 1
    assert "--stacks folded needs a stack field" in result.stderr


def test_format_doc_comments_on_header_members(fixture_package, ecli):
    """`/// @format signal` above a plain int member: ecc keeps it in the package, ecli
    shows the field readably."""
    package = fixture_package("formatted")
    import json as json_module
    doc = json_module.loads(package.read_text())
    members = {m["name"]: m for m in doc["meta"]["export_types"][0]["members"]}
    assert members["sig"]["format"] == "signal" and members["target"]["format"] == "hex"
    assert "format" not in members["pid"]
    run = ecli("--json", package, "--targ_tgid", os.getpid())
    run.wait_attached()
    child = subprocess.Popen(["sleep", "30"])
    os.kill(child.pid, signal.SIGUSR1)
    child.wait()
    event = run.wait_event(lambda e: e["sig"] == "SIGUSR1")
    assert event["target"] == f"0x{child.pid:x}"
    # unsigned char[16] is data: every byte as hex; `@format text` shows it as text
    comm = Path("/proc/self/comm").read_bytes().strip()[:15]
    assert event["comm_bytes"] == comm.ljust(16, b"\0").hex()
    assert event["comm_text"] == comm.decode()
    run.stop()


def test_an_unknown_format_comment_is_a_compile_error(tmp_path):
    from .conftest import ECC, FIXTURES
    header = (FIXTURES / "formatted.h").read_text().replace("@format signal",
                                                           "@format colour")
    (tmp_path / "formatted.h").write_text(header)
    (tmp_path / "formatted.bpf.c").write_text((FIXTURES / "formatted.bpf.c").read_text())
    built = subprocess.run([*ECC, str(tmp_path / "formatted.bpf.c")], capture_output=True,
                           text=True, timeout=180, check=False)
    assert built.returncode == 1
    assert "struct kill_event, member sig: unknown @format 'colour'" in built.stderr


def test_sort_and_top_pick_the_busiest_entries(fixture_package, ecli):
    """A sampled hash of getppid() counts per pid: --sort calls --top 2 shows the two
    busiest processes, busiest first."""
    import sys
    run = ecli("--json", fixture_package("sorted"), "--sort", "calls", "--top", "2")
    run.wait_attached()
    calls = {}
    for count in (5, 400, 15):
        code = f"import os; [os.getppid() for _ in range({count})]"
        child = subprocess.Popen([sys.executable, "-c", code])
        child.wait()
        calls[child.pid] = count
    ours = {pid for pid, count in calls.items() if count > 5}

    def a_sample_of_ours():
        """The latest sample (its two lines: --top 2), once it shows our two busier
        processes with all their calls (a sample taken while the last child still ran
        shows part of them)."""
        events = [e for e in run.json_events() if e["map"] == "calls"]
        sample = events[-2:]
        keys = {e["key"] for e in sample}
        done = keys == ours and all(e["value"]["calls"] == calls[e["key"]] for e in sample)
        return sample if len(sample) == 2 and done else None
    sample = wait_until(a_sample_of_ours, 15, what="a sample with our two busier processes")
    assert [e["key"] for e in sample] == sorted(ours, key=calls.get, reverse=True)
    assert [e["value"]["calls"] for e in sample] == [400, 15]
    run.stop()


def test_tcpconnect_shows_endpoints_v4_and_v6(example_package, ecli):
    run = ecli("--json", example_package("tcpconnect"), "--targ_tgid", os.getpid())
    run.wait_attached()
    ports = {}
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        with socket.socket(family) as server:
            server.bind((host, 0))
            server.listen(1)
            ports[host] = server.getsockname()[1]
            with socket.create_connection((host, ports[host]), timeout=5):
                pass
    v4 = run.wait_event(lambda e: e["dst"] == f"127.0.0.1:{ports['127.0.0.1']}")
    v6 = run.wait_event(lambda e: e["dst"] == f"[::1]:{ports['::1']}")
    assert (v4["saddr"], v6["saddr"]) == ("127.0.0.1", "::1")
    assert v4["pid"] == v6["pid"] == os.getpid() and v4["uid"] == "root"
    run.stop()


def test_the_library_keeps_raw_values_and_gives_readable_ones(fixture_package):
    import eunomia
    with eunomia.Package.load(str(fixture_package("formatted"))).open(
            targ_tgid=os.getpid()) as prog:
        prog.attach()
        child = subprocess.Popen(["sleep", "30"])
        os.kill(child.pid, signal.SIGUSR1)
        child.wait()
        event = next(prog.events(timeout=10))
        assert event.sig == signal.SIGUSR1                    # raw
        shown = prog.readable(event)
        assert shown["sig"] == "SIGUSR1" and shown["target"] == f"0x{child.pid:x}"


def test_user_stacks_resolve_in_the_records_process(fixture_package, ecli, tmp_path):
    """A user stack id typed eunomia_ustack_t: frames named from the process's own ELF
    symbols (and libc's), while the process is alive."""
    import shutil
    if shutil.which("gcc") is None:
        pytest.skip("the target program needs gcc")
    from .conftest import FIXTURES
    target = tmp_path / "ustack_target"
    subprocess.run(["gcc", "-O2", "-fno-omit-frame-pointer", "-o", str(target),
                    str(FIXTURES / "ustack_target.c")], check=True, timeout=120)
    child = subprocess.Popen([str(target)], stdin=subprocess.PIPE, text=True)
    try:
        run = ecli("--json", fixture_package("stacks"), "--targ_tgid", child.pid)
        run.wait_attached()
        child.stdin.write("go\n")
        child.stdin.flush()
        event = run.wait_event(lambda e: e["pid"] == child.pid)
        names = [frame.split("+")[0] for frame in event["ustack"]]
        assert "main" in names, event["ustack"]
        run.stop()
    finally:
        child.kill()
        child.wait()


HOSTILE_NAME = "\x1b]0;pwned\x07\x1b[2J"     # retitle the window, clear the screen
NAMES_ITSELF = f"""
import ctypes, sys
name = {HOSTILE_NAME!r}.encode()
ctypes.CDLL(None).prctl(15, ctypes.c_char_p(name), 0, 0, 0)    # PR_SET_NAME
sys.exit(7)
"""


@pytest.mark.parametrize("mode", ["table", "csv", "json"])
def test_escape_sequences_in_a_process_name_never_reach_the_terminal(example_package, ecli,
                                                                     mode):
    """Any process can name itself with escape sequences: tables and CSV show them
    escaped (\\x1b), JSON keeps its own escapes."""
    run = ecli("-o", mode, "--filter", "exit_code==7", example_package("exitsnoop"))
    run.wait_attached()
    child = subprocess.Popen([sys.executable, "-c", NAMES_ITSELF])
    child.wait()
    assert child.returncode == 7
    line = run.wait_line(lambda ln: str(child.pid) in ln, what="the child's exit")
    run.stop()
    assert "\x1b" not in "\n".join(run.lines) and "\x07" not in "\n".join(run.lines)
    if mode == "json":
        assert json.loads(line)["comm"] == HOSTILE_NAME[:15]
    else:
        assert "\\x1b]0;pwned\\x07" in line


def test_folded_stacks_show_a_hostile_process_name_escaped(fixture_package, ecli):
    """--stacks folded starts each line with the process's name: escaped, like tables."""
    code = (f"import ctypes, os, sys; ctypes.CDLL(None).prctl(15, ctypes.c_char_p("
            f"{HOSTILE_NAME!r}.encode()), 0, 0, 0); sys.stdin.readline(); os.getppid()")
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, text=True)
    run = ecli("--stacks", "folded", fixture_package("stacks"), "--targ_tgid", child.pid)
    run.wait_attached()
    child.stdin.write("go\n")
    child.stdin.flush()
    child.wait()
    line = run.wait_line(lambda ln: "do_syscall_64+0x" in ln, what="the stack")
    run.stop()
    assert "\x1b" not in "\n".join(run.lines) and "\x07" not in "\n".join(run.lines)
    assert line.startswith("\\x1b]0;pwned\\x07"), line
