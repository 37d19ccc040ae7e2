"""The six BCC classic tools in examples/, run as users run them, each showing the
activity the test causes (on this kernel, through their tracepoint fallbacks)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import uuid

import pytest

from tests.cli.conftest import EXAMPLES, Ecli, wait_until
from tests.kernel.conftest import needs_bpftool, needs_btf, needs_clang, needs_root

pytestmark = [needs_root, needs_btf, needs_clang, needs_bpftool]

TOOLS = ("killsnoop", "filetop", "usercheck", "pidpersec", "vfsreadlat", "stacksnoop")


@pytest.fixture
def tool(ecli):
    """tool("killsnoop", *args) -> a running examples/killsnoop/killsnoop.py."""
    def start(name: str, *args) -> Ecli:
        return ecli(*args, command=[sys.executable, str(EXAMPLES / name / f"{name}.py")])
    return start


def started(proc: Ecli, marker: str) -> None:
    """Waits for the line a tool prints once attached (its header)."""
    def ready():
        if proc.proc.poll() is not None:
            proc.join()
            raise AssertionError(f"tool exited with {proc.proc.returncode}: "
                                 + "\n".join(proc.errors))
        return any(line.startswith(marker) for line in list(proc.lines))
    wait_until(ready, 90, what=f"'{marker}'")      # the first run compiles the package


@pytest.mark.parametrize("name", TOOLS)
def test_help(name):
    result = subprocess.run([sys.executable, str(EXAMPLES / name / f"{name}.py"), "--help"],
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0 and "--duration" in result.stdout


def test_killsnoop_shows_a_child_killed_with_sigterm(tool):
    snoop = tool("killsnoop", "-v", "-p", os.getpid(), "--duration", "60")
    started(snoop, "TIME")
    assert any("using tracepoints" in line or "using kprobes" in line
               for line in snoop.errors)
    child = subprocess.Popen(["sleep", "60"])
    os.kill(child.pid, signal.SIGTERM)
    child.wait()
    line = snoop.wait_line(lambda ln: f" {child.pid} " in ln, what="the kill")
    fields = line.split()
    assert fields[1:] == [str(os.getpid()), fields[2], "15", str(child.pid), "0"]


def test_filetop_shows_bytes_written_to_a_file(tool, tmp_path):
    name = f"ft-{uuid.uuid4().hex[:12]}"
    top = tool("filetop", "-p", os.getpid(), "-r", "100", "0.5", "--duration", "60")
    started(top, "Tracing")
    fd = os.open(tmp_path / name, os.O_WRONLY | os.O_CREAT)
    os.write(fd, b"x" * 65536)
    os.close(fd)
    line = top.wait_line(lambda ln: ln.endswith(f" R {name}"), what=f"a row for {name}")
    reads, writes, _r_kb, w_kb = line.split()[2:6]
    assert (int(writes), int(w_kb), int(reads)) == (1, 64, 0)


def test_usercheck_greets_each_uid(tool):
    check = tool("usercheck", "--greet", "0=hello-root", "--greet", "65534=hi-nobody",
                 "--duration", "60")
    started(check, "TIME")
    as_root = subprocess.Popen(["true"])
    as_nobody = subprocess.Popen(["true"], user=65534, group=65534, extra_groups=[])
    as_root.wait()
    as_nobody.wait()
    root_line = check.wait_line(lambda ln: f" {as_root.pid} " in ln, what="root's exec")
    nobody_line = check.wait_line(lambda ln: f" {as_nobody.pid} " in ln, what="nobody's")
    assert root_line.split()[2:] == ["0", "true", "hello-root"]
    assert nobody_line.split()[2:] == ["65534", "true", "hi-nobody"]


def test_pidpersec_counts_forks(tool):
    counter = tool("pidpersec", "0.5", "--duration", "60")
    started(counter, "Tracing")
    forks = 20
    for _ in range(forks):
        subprocess.run(["true"], check=True)

    def counted():
        rates = [float(line.rsplit(":", 1)[1]) for line in list(counter.lines)
                 if "PIDs/sec" in line]
        return sum(rate * 0.5 for rate in rates) >= forks
    wait_until(counted, 15, what=f"{forks} forks counted")


HIST_ROW = re.compile(r"^\s*(\d+) -> (\d+)\s*: (\d+)")

SLOW_READER = """
import os, sys, threading, time
sys.stdin.readline()                     # "go": the tool is attached
r, w = os.pipe()
reading = threading.Semaphore(0)
def writer():
    for _ in range(5):
        reading.acquire()                # in lock-step with the reads: never ahead
        time.sleep(0.1)
        os.write(w, b"x")
threading.Thread(target=writer).start()
for _ in range(5):
    reading.release()
    os.read(r, 1)                        # each blocks about 100 ms
zero = os.open("/dev/zero", os.O_RDONLY)
for _ in range(20):
    os.read(zero, 4096)                  # fast reads
print("done", flush=True)
"""


def test_vfsreadlat_buckets_timed_reads(tool):
    reader = subprocess.Popen([sys.executable, "-c", SLOW_READER], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        lat = tool("vfsreadlat", "-p", reader.pid, "0.5", "--duration", "60")
        started(lat, "Tracing")
        reader.stdin.write("go\n")
        reader.stdin.flush()
        assert reader.stdout.readline() == "done\n"

        def buckets():
            slow = fast = 0
            for line in list(lat.lines):
                match = HIST_ROW.match(line)
                if match:
                    low, count = int(match.group(1)), int(match.group(3))
                    slow += count if low >= 16384 else 0
                    fast += count if low < 16384 else 0
            return (slow, fast) if slow >= 5 and fast >= 20 else None
        wait_until(buckets, 15, what="5 slow and 20 fast reads in the histograms")
    finally:
        reader.kill()
        reader.wait()


def test_stacksnoop_names_kernel_functions(tool):
    snoop = tool("stacksnoop", "-t", "sched:sched_process_exec", "--duration", "60")
    started(snoop, "TIME(s)")
    child = subprocess.Popen(["true"])
    child.wait()
    snoop.wait_line(lambda ln: f" {child.pid} " in ln, what="the exec")

    def frames_after_exec():
        lines = list(snoop.lines)
        at = next(i for i, ln in enumerate(lines) if f" {child.pid} " in ln)
        frames = []
        for line in lines[at + 1:]:
            if not line.startswith("\t"):
                break
            frames.append(line.strip())
        return frames if frames else None
    frames = wait_until(frames_after_exec, 10, what="the stack")
    assert any("execve" in frame for frame in frames), frames
    assert all(re.fullmatch(r"[\w.$]+", frame) for frame in frames), frames


def test_stacksnoop_function_without_kprobes_is_one_clear_line():
    from eunomia import features
    if features.kprobes():
        pytest.skip("this kernel has kprobes: the function path attaches")
    result = subprocess.run([sys.executable, str(EXAMPLES / "stacksnoop" / "stacksnoop.py"),
                             "vfs_read", "--duration", "1"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        result.stderr.strip().splitlines()[0]]
    assert "no kprobes" in result.stderr and "-t CATEGORY:NAME" in result.stderr


BOOTSTRAP_HEADER = "TIME     EVENT COMM             PID     PPID    FILENAME/EXIT CODE"


def test_bootstrap_prints_exec_and_exit_rows_as_libbpf_bootstrap_does(tool):
    boot = tool("bootstrap")
    started(boot, "TIME")
    assert boot.lines[0] == BOOTSTRAP_HEADER
    true = subprocess.Popen(["/bin/true"])
    true.wait()
    row = boot.wait_line(lambda ln: f" {true.pid} " in ln and " EXEC " in ln,
                         what="the exec of /bin/true")
    assert re.fullmatch(rf"\d\d:\d\d:\d\d EXEC  true {' ' * 12}{true.pid:<7} "
                        rf"{os.getpid():<7} /bin/true", row), row
    child = subprocess.Popen(["sh", "-c", "exit 3"])
    child.wait()
    row = boot.wait_line(lambda ln: f" {child.pid} " in ln and " EXIT " in ln,
                         what="the exit of sh")
    assert re.fullmatch(rf"\d\d:\d\d:\d\d EXIT  sh {' ' * 14}{child.pid:<7} "
                        rf"{os.getpid():<7} \[3\]( \(\d+ms\))?", row), row
    assert boot.stop() == 0


def test_bootstrap_min_duration_hides_short_lived_processes(tool):
    boot = tool("bootstrap", "-d", "1000")
    started(boot, "TIME")
    short = subprocess.Popen(["sh", "-c", "exit 3"])
    short.wait()
    long_lived = subprocess.Popen(["sleep", "1.5"])
    long_lived.wait()
    row = boot.wait_line(lambda ln: f" {long_lived.pid} " in ln, what="the long exit")
    assert re.fullmatch(rf"\d\d:\d\d:\d\d EXIT  sleep {' ' * 11}{long_lived.pid:<7} "
                        rf"{os.getpid():<7} \[0\] \((1[5-9]\d\d|[2-9]\d\d\d)ms\)", row), row
    # the short process exited first, so its row would be there by now
    assert not [ln for ln in boot.lines if f" {short.pid} " in ln]
    assert not [ln for ln in boot.lines if " EXEC " in ln]     # as bootstrap.c with -d
    boot.stop()


def test_bootstrap_flags_are_bootstraps():
    path = str(EXAMPLES / "bootstrap" / "bootstrap.py")
    shown = subprocess.run([sys.executable, path, "--help"], capture_output=True,
                           text=True, timeout=30, check=False)
    assert shown.returncode == 0
    assert "usage: bootstrap [-d <min-duration-ms>] [-v]" in shown.stdout
    assert "Minimum process duration (ms) to report" in shown.stdout
    bad = subprocess.run([sys.executable, path, "-d", "0"], capture_output=True, text=True,
                         timeout=30, check=False)
    assert bad.returncode == 2 and "Invalid duration: 0" in bad.stderr


def test_bootstrap_verbose_shows_libbpfs_debug_output(tool):
    boot = tool("bootstrap", "-v")
    started(boot, "TIME")
    assert any(line.startswith("libbpf: loading object 'bootstrap'") for line in boot.errors)
    boot.stop()
