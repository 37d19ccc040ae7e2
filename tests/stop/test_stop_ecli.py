"""`ecli run` stopped right after a burst of 300,000 records writes every one of them:
the programs are detached first, then the queue and the rings are written out."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.kernel.conftest import wait_until
from tests.stop.conftest import BURST, seqs_of


def _bpftool(*args: str):
    return json.loads(subprocess.run(["bpftool", "-j", *args], capture_output=True,
                                     text=True, check=True).stdout)


def refused_by_the_ring(pid: int) -> int:
    """stopflood's `refused` counter, read with bpftool from the .bss map that process
    `pid` holds (libbpf shortens the object's name in map names: found by fd instead)."""
    fdinfo = Path(f"/proc/{pid}/fdinfo")
    ids = {int(line.split()[1]) for info in fdinfo.iterdir()
           for line in _lines(info) if line.startswith("map_id:")}
    bss = [i for i in ids if _bpftool("map", "show", "id", str(i))["name"].endswith(".bss")]
    assert len(bss) == 1, bss
    dump = _bpftool("map", "dump", "id", str(bss[0]))

    def find(value):
        if isinstance(value, dict):
            if "refused" in value:
                return value["refused"]
            return next((f for f in map(find, value.values()) if f is not None), None)
        if isinstance(value, list):
            return next((f for f in map(find, value) if f is not None), None)
        return None
    found = find(dump)
    assert found is not None, dump
    return int(found)


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except OSError:         # an fd closed meanwhile
        return []


@pytest.mark.parametrize("mode", ["json", "table"])
@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM", "SIGHUP", "duration"])
def test_every_record_sent_before_the_stop_is_written(flood_package, producer, stalled_ecli,
                                                      mode, stop):
    child = producer()
    args = ["--no-header", "--stop-timeout", "300"] + (["--json"] if mode == "json" else [])
    if stop == "duration":
        args += ["--duration", "1"]
    ecli = stalled_ecli(*args, flood_package, "--targ_tgid", child.pid)
    ecli.wait_for("attached")
    started = time.monotonic()
    child.burst()           # meanwhile ecli's output stalls: nobody reads it yet
    if stop == "duration":
        # the duration runs out while the records wait in the queue and the ring
        wait_until(lambda: time.monotonic() - started > 1.5, 10, what="the duration")
    else:
        ecli.proc.send_signal(getattr(signal, stop))
    output = ecli.read_all()
    assert ecli.proc.returncode == 0, ecli.errors
    seqs = seqs_of(output, mode == "json")
    assert len(seqs) == BURST
    assert sorted(seqs) == list(range(BURST))
    assert not [line for line in ecli.errors if "lost" in line or "dropped" in line]


def test_a_second_signal_abandons_the_rest_and_says_how_much(flood_package, producer,
                                                              stalled_ecli):
    child = producer()
    ecli = stalled_ecli("--json", "--stop-timeout", "300", flood_package, "--targ_tgid",
                        child.pid)
    ecli.wait_for("attached")
    child.burst()
    ecli.proc.send_signal(signal.SIGINT)
    ecli.wait_for("Ctrl-C again abandons them")
    ecli.proc.send_signal(signal.SIGINT)     # the writer is still stalled: give up
    line = ecli.wait_for("were not written")
    lines = ecli.read_all().splitlines()
    assert ecli.proc.returncode == 1
    # the write the abandon interrupted may have cut its last line
    written = len(seqs_of("\n".join(lines[:-1]), True))
    unwritten = int(line.split(": ")[-1].split()[0])
    assert unwritten > 0
    # every record is either written or counted (a line cut by the abandon aside)
    assert written < BURST
    assert abs(written + unwritten - BURST) <= 2


def test_the_stop_bound_abandons_a_stalled_writer(flood_package, producer, stalled_ecli):
    child = producer()
    ecli = stalled_ecli("--json", "--stop-timeout", "0.5", flood_package, "--targ_tgid",
                        child.pid)
    ecli.wait_for("attached")
    child.burst()
    ecli.proc.send_signal(signal.SIGTERM)
    line = ecli.wait_for("were not written")
    assert "finishing took more than 0.5 s" in line
    ecli.read_all()
    assert ecli.proc.returncode == 1


def _rss_anon_kb(pid: int) -> int:
    """Anonymous resident memory: the queue lives there (the ring's pages do not)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


def test_a_small_queue_drops_counts_and_reports_and_memory_stays_bounded(
        flood_package, producer, stalled_ecli):
    count = 2_000_000           # 80 MB of records: far more than the queue may hold
    child = producer(count)
    ecli = stalled_ecli("--json", "--queue-size", "1M", "--stop-timeout", "300",
                        flood_package, "--targ_tgid", child.pid)
    ecli.wait_for("attached")
    child.proc.stdin.write(b"g")
    child.proc.stdin.close()
    peak = 0
    while child.proc.poll() is None:        # the burst, sampled while it lasts
        peak = max(peak, _rss_anon_kb(ecli.proc.pid))
        time.sleep(0.01)
    peak = max(peak, _rss_anon_kb(ecli.proc.pid))
    refused = refused_by_the_ring(ecli.proc.pid)
    ecli.proc.send_signal(signal.SIGINT)
    written = len(seqs_of(ecli.read_all(), True))
    assert ecli.proc.returncode == 0
    reports = [line for line in ecli.errors if "dropped" in line]
    assert reports, ecli.errors
    assert "queue (1 MiB) was full" in reports[0]
    dropped = int(reports[-1].split("(")[1].split()[0])      # "... (N in all)"
    assert dropped > 0
    # every record written or counted: dropped by the queue, or refused by the kernel
    # when the drainer could not run for the last 10% of the ring (a loaded machine)
    assert written + dropped + refused == count
    assert peak < 64 * 1024, f"RssAnon peaked at {peak} kB"
