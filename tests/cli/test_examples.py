"""End to end on the real kernel: `ecc` an example, `ecli run` it, cause activity, read it back."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import uuid

import pytest

from tests.kernel.conftest import exit_child

from .conftest import bpf_program_names, needs_clang, needs_root, run_ecli, wait_until

pytestmark = [pytest.mark.kernel, needs_root, needs_clang]


def program_names(package_path) -> set[str]:
    """The kernel's names for a package's programs (truncated to 15 characters)."""
    progs = json.loads(package_path.read_text())["meta"]["bpf_skel"]["progs"] or []
    return {p["name"][:15] for p in progs}


def test_exitsnoop_reports_the_childs_pid_and_exit_code(example_package, ecli):
    package = example_package("exitsnoop")
    run = ecli("--json", package)
    run.wait_attached()
    pid = exit_child(3)
    event = run.wait_event(lambda e: e["pid"] == pid, what=f"the exit of pid {pid}")
    assert event["exit_code"] == 3
    assert event["ppid"] == os.getpid()
    assert event["comm"] == "sh"
    # typed eunomia_duration_t: shown as a duration ("1.128ms"), still a number inside
    assert re.fullmatch(r"\d+(\.\d+)?(ns|us|ms|s)", event["duration_ns"]), event
    assert run.stop(signal.SIGINT) == 0


def test_a_run_waits_on_one_epoll_set(example_package, ecli):
    """One EventReader per run: its epoll set, plus each ring reader's own (a perf
    buffer waits on its per-CPU rings with one); no second set over the same rings."""
    run = ecli("--json", example_package("exitsnoop"))      # one ring buffer
    run.wait_attached()
    fds = f"/proc/{run.proc.pid}/fd"
    epolls = [fd for fd in os.listdir(fds)
              if os.readlink(f"{fds}/{fd}") == "anon_inode:[eventpoll]"]
    assert len(epolls) == 2, epolls         # the reader's set and the ring's
    assert run.stop(signal.SIGINT) == 0


def test_exitsnoop_table_has_a_header_and_rows(example_package, ecli):
    run = ecli(example_package("exitsnoop"))
    run.wait_attached()
    pid = exit_child(5)
    row = run.wait_line(lambda ln: re.match(rf"^\d\d:\d\d:\d\d\s+{pid}\s", ln) is not None,
                        what=f"a table row for pid {pid}")
    assert row.split()[3] == "5"    # TIME PID PPID EXIT_CODE ...
    header = run.lines[0].split()
    assert header[:4] == ["TIME", "PID", "PPID", "EXIT_CODE"]
    assert "COMM" in header
    run.stop()


def test_opensnoop_decodes_the_file_name(example_package, ecli, tmp_path):
    watched = tmp_path / f"watched-{uuid.uuid4().hex}"
    watched.write_text("x")
    run = ecli("--json", example_package("opensnoop"))
    run.wait_attached()
    subprocess.run(["cat", str(watched)], capture_output=True, check=True)
    event = run.wait_event(lambda e: e["fname"] == str(watched), what=f"an open of {watched}")
    assert event["comm"] == "cat"
    assert event["ret"] >= 0
    run.stop()


def test_opensnoop_targ_pid_excludes_other_processes(example_package, ecli, tmp_path):
    other = tmp_path / f"other-{uuid.uuid4().hex}"
    mine = tmp_path / f"mine-{uuid.uuid4().hex}"
    other.write_text("x")
    mine.write_text("x")
    run = ecli("--json", example_package("opensnoop"), "--targ_pid", str(os.getpid()))
    run.wait_attached()
    # The child's open happens before ours; by the time ours is printed, the child's
    # would have been too, had the kernel side let it through.
    subprocess.run(["cat", str(other)], capture_output=True, check=True)
    with open(mine):
        pass
    event = run.wait_event(lambda e: e["fname"] == str(mine), what="our own open")
    assert event["pid"] == os.getpid()
    run.stop()
    assert not [e for e in run.json_events() if e["fname"] == str(other)]
    assert {e["pid"] for e in run.json_events()} == {os.getpid()}


def test_opensnoop_failed_only(example_package, ecli, tmp_path):
    package = example_package("opensnoop")
    missing = tmp_path / f"missing-{uuid.uuid4().hex}"
    present = tmp_path / f"present-{uuid.uuid4().hex}"
    present.write_text("x")
    run = ecli("--json", package, "--targ_failed", "--targ_pid", str(os.getpid()))
    run.wait_attached()
    with open(present):
        pass
    with pytest.raises(FileNotFoundError):
        os.close(os.open(missing, os.O_RDONLY))
    event = run.wait_event(lambda e: e["fname"] == str(missing), what="the failed open")
    assert event["ret"] == "ENOENT"         # typed eunomia_ret_t
    run.stop()
    assert not [e for e in run.json_events() if e["fname"] == str(present)]


def test_bootstrap_shows_exec_and_exit(example_package, ecli):
    run = ecli("--json", example_package("bootstrap"))
    run.wait_attached()
    pid = exit_child(7)
    exec_event = run.wait_event(lambda e: e["pid"] == pid and not e["exit_event"],
                                what="the exec event")
    exit_event = run.wait_event(lambda e: e["pid"] == pid and e["exit_event"],
                                what="the exit event")
    assert exec_event["filename"].endswith("sh")
    assert exit_event["exit_code"] == 7
    run.stop()


def test_bootstrap_min_duration_filters_short_exits(example_package, ecli):
    run = ecli("--json", example_package("bootstrap"), "--min_duration_ns", "60000000000")
    run.wait_attached()
    pid = exit_child(0)
    # Exec events are always reported; the exit of a process shorter than a minute is not.
    run.wait_event(lambda e: e["pid"] == pid and not e["exit_event"], what="the exec event")
    marker = exit_child(0)
    run.wait_event(lambda e: e["pid"] == marker and not e["exit_event"], what="a later exec")
    run.stop()
    assert not [e for e in run.json_events() if e["pid"] == pid and e["exit_event"]]


def test_hello_says_where_printk_goes_and_trace_follows_it(example_package, ecli):
    package = example_package("hello")
    plain = ecli(package)
    plain.wait_attached()
    wait_until(lambda: any("trace_pipe" in line for line in plain.errors), 10,
               what="the note about trace_pipe")
    plain.stop()
    traced = ecli("--trace", package)
    traced.wait_attached()
    pids: list[int] = []

    def seen():
        pids.append(exit_child(0))
        return any(f"exec by pid {pid}" in line for line in list(traced.lines) for pid in pids)
    wait_until(seen, 15, what="bpf_printk output on stdout")
    traced.stop()


def test_syscall_latency_histogram_buckets_fill(example_package, ecli):
    run = ecli(example_package("syscall_latency"))
    run.wait_attached()
    bucket = re.compile(r"^\s*(\d+)\s*->\s*(\d+)\s*:\s*(\d+)\s*\|")

    def filled():
        rows = [bucket.match(ln) for ln in list(run.lines)]
        return any(m and int(m.group(3)) > 0 for m in rows)
    wait_until(filled, 15, what="a histogram bucket with a count")
    run.stop()
    assert any("usecs" in line for line in run.lines)


def test_syscall_latency_json_histogram(example_package, ecli):
    run = ecli("--json", example_package("syscall_latency"))
    run.wait_attached()
    sample = run.wait_event(lambda e: "histogram" in e, what="a sampled histogram")
    buckets = sample["histogram"]["buckets"]
    assert sum(b["count"] for b in buckets) > 0
    run.stop()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stopping_detaches_every_program(example_package, ecli, sig):
    package = example_package("bootstrap")
    names = program_names(package)
    run = ecli(package)
    run.wait_attached()
    assert names <= bpf_program_names()
    assert run.stop(sig) == 0
    assert not [e for e in run.errors if "Traceback" in e]
    wait_until(lambda: not names & bpf_program_names(), 10, what="programs to be unloaded")


def test_duration_stops_by_itself(example_package):
    result = run_ecli("run", "--duration", "1", example_package("exitsnoop"), timeout=60)
    assert result.returncode == 0, result.stderr
    assert "attached" in result.stderr


def test_package_from_stdin_and_directory(example_package):
    package = example_package("exitsnoop")
    from_stdin = run_ecli("run", "--duration", "0.5", "-", stdin=package.read_bytes())
    assert from_stdin.returncode == 0, from_stdin.stderr
    from_dir = run_ecli("run", "--duration", "0.5", package.parent)
    assert from_dir.returncode == 0, from_dir.stderr


def test_package_from_url(example_package, http_server):
    package = example_package("exitsnoop")
    url = http_server(package.read_bytes())
    result = run_ecli("run", "--duration", "0.5", url)
    assert result.returncode == 0, result.stderr
    assert "attached" in result.stderr


def test_program_help_shows_doc_and_flags(example_package):
    result = run_ecli("run", example_package("opensnoop"), "--help")
    assert result.returncode == 0, result.stderr
    for flag in ("--targ_pid", "--targ_tgid", "--targ_uid", "--targ_failed", "--json"):
        assert flag in result.stdout


def test_perf_buffer_losses_are_reported(example_package, ecli, tmp_path):
    # A one-page perf buffer and a paused consumer: the kernel must drop samples, and
    # ecli must say so on stderr rather than lose them silently.
    doc = json.loads(example_package("opensnoop").read_text())
    doc["meta"]["perf_buffer_pages"] = 1
    small = tmp_path / "small.json"
    small.write_text(json.dumps(doc))
    target = tmp_path / "flood"
    target.write_text("x")
    run = ecli("--json", small, "--targ_pid", str(os.getpid()))
    run.wait_attached()
    run.proc.send_signal(signal.SIGSTOP)
    try:
        for _ in range(500):
            os.close(os.open(target, os.O_RDONLY))
    finally:
        run.proc.send_signal(signal.SIGCONT)
    # The kernel reports a loss with the next sample that fits: keep opening.
    def reported():
        os.close(os.open(target, os.O_RDONLY))
        return any("lost" in line for line in run.errors)
    wait_until(reported, 15, what="a report of lost events")
    run.stop()


def test_runs_a_package_in_eunomia_bpf_form(example_package, ecli, tmp_path):
    # eunomia-bpf's ecc names the record only by BTF id, calls the object NAME_bpf and
    # lists a placeholder variable that keeps the export type alive: all must be accepted.
    doc = json.loads(example_package("exitsnoop").read_text())
    skel = doc["meta"]["bpf_skel"]
    skel["obj_name"] = "exitsnoop_bpf"
    for map_meta in skel["maps"]:
        if "export_config" in map_meta:
            map_meta["export_config"] = {"btf_type_id": map_meta["export_config"]["btf_type_id"]}
    skel["data_sections"].append({"name": ".bss", "variables": [
        {"name": "__eunomia_dummy_event_ptr", "type": "struct event *"}]})
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps(doc))
    run = ecli("--json", foreign)
    run.wait_attached()
    pid = exit_child(6)
    assert run.wait_event(lambda e: e["pid"] == pid)["exit_code"] == 6
    run.stop()
