"""Throughput: a getppid() flood through a ring buffer, each consumer side by side with a
C reference (libbpf ring_buffer__poll printing JSON) measured in the same round.

For each consumer, over several rounds: records delivered and lost in its worst round,
records per second, consumer CPU time (median) and peak RSS, each with its ratio to the
C reference's. Run by bench/run.py.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import HERE, ROOT, gcc

IDLE_END = 1.0      # the output counts as finished after this long without growth
STOP_BOUND = 15.0   # a consumer still running this long after SIGINT is killed (and said)


def build(workdir: Path) -> dict[str, Path]:
    """Compiles the package with ecc and the C programs with gcc + libbpf."""
    import eunomia
    outdir = workdir / "flood"
    eunomia.compile(str(HERE / "flood.bpf.c"), str(HERE / "flood.h"), outdir=str(outdir))
    paths = {"package": outdir / "package.json", "object": outdir / "flood.bpf.o",
             "reference": workdir / "reference_consumer", "producer": workdir / "producer"}
    gcc(HERE / "reference_consumer.c", paths["reference"], "-lbpf")
    gcc(HERE / "producer.c", paths["producer"])
    return paths


def consumers(paths: dict[str, Path]) -> dict[str, callable]:
    """name -> function(tgid) giving the consumer's command line."""
    ecli = [sys.executable, "-m", "eunomia.cli.ecli", "run"]
    found = {
        "C reference (ring_buffer__poll, JSON)":
            lambda tgid: [str(paths["reference"]), str(paths["object"]), str(tgid)],
        "ecli run --json":
            lambda tgid: [*ecli, "--json", str(paths["package"]), "--targ_tgid", str(tgid)],
        "ecli run (table)":
            lambda tgid: [*ecli, "--no-header", str(paths["package"]), "--targ_tgid",
                          str(tgid)],
        "library events()":
            lambda tgid: [sys.executable, str(HERE / "library_consumer.py"),
                          str(paths["package"]), str(tgid)],
    }
    if shutil.which("bpftrace"):        # a second reference, where installed
        found["bpftrace (printf JSON)"] = lambda tgid: [str(HERE / "bpftrace_consumer.sh"),
                                                        str(tgid)]
    return found


def count_lines(path: Path, json_only: bool = False) -> int:
    """Lines of the output (only those holding a JSON object, for bpftrace's mixed
    output)."""
    with open(path, "rb") as f:
        if json_only:
            return sum(1 for line in f if line.startswith(b"{"))
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def said_attached(consumer: subprocess.Popen, deadline: float) -> bool:
    """Whether `consumer` says "attached" on stderr before `deadline` (or before it
    ends): a consumer that says nothing cannot hang the bench."""
    fd = consumer.stderr.fileno()
    pending = b""
    while time.monotonic() < deadline:
        ready = select.select([fd], [], [], 0.2)[0]
        if not ready:
            if consumer.poll() is not None:
                return False
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            return False
        pending += chunk
        if b"attached" in pending:
            return True
        pending = pending[-64:]
    return False


def wait_bounded(consumer: subprocess.Popen, bound: float):
    """(status, rusage) of `consumer` once it ends; killed, with its session, when it
    has not ended `bound` seconds after its SIGINT."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        pid, status, usage = os.wait4(consumer.pid, os.WNOHANG)
        if pid:
            return status, usage
        time.sleep(0.05)
    print(f"  {consumer.args[0]} did not stop {bound:.0f} s after SIGINT: killed",
          file=sys.stderr)
    os.killpg(consumer.pid, signal.SIGKILL)
    _, status, usage = os.wait4(consumer.pid, 0)
    return status, usage


def measure(command, producer: Path, records: int, workdir: Path, library: bool) -> dict:
    out_path = workdir / "out.txt"
    producer_proc = subprocess.Popen([str(producer), str(records)], stdin=subprocess.PIPE)
    with open(out_path, "wb") as out:
        # a session of its own: a consumer that hangs is killed with its children
        consumer = subprocess.Popen(command(producer_proc.pid), stdout=out,
                                    stderr=subprocess.PIPE, cwd=ROOT, start_new_session=True)
        if not said_attached(consumer, deadline=time.monotonic() + 60):
            producer_proc.kill()
            os.killpg(consumer.pid, signal.SIGKILL)
            consumer.wait()
            raise SystemExit(f"consumer failed to start: {command(0)}")
        start = time.monotonic()
        producer_proc.stdin.write(b"g")
        producer_proc.stdin.close()
        producer_proc.wait()
        size, last_growth = -1, time.monotonic()
        while time.monotonic() - last_growth < IDLE_END:
            now_size = out_path.stat().st_size
            if now_size != size:
                size, last_growth = now_size, time.monotonic()
            time.sleep(0.05)
        consumer.send_signal(signal.SIGINT)
        status, usage = wait_bounded(consumer, STOP_BOUND)
        consumer.returncode = os.waitstatus_to_exitcode(status)
        consumer.stderr.close()
    if library:
        count, last_event = out_path.read_text().split()[-2:]
        delivered, last_growth = int(count), float(last_event)
    else:
        delivered = count_lines(out_path, json_only=command(0)[0].endswith(".sh"))
    elapsed = max(last_growth - start, 1e-9)
    return {"delivered": delivered, "lost": records - delivered,
            "records_per_s": round(delivered / elapsed),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "max_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def run(workdir: Path, records: int, repeat: int = 1) -> dict:
    """Every consumer against the same flood, one after another, `repeat` rounds: name ->
    figures of the worst round (fewest records), with `ratio_to_c` the worst round's
    delivered records over the C reference's of the same round, and the median CPU time
    and peak RSS with their ratios to C's."""
    paths = build(workdir)
    rounds: dict[str, list[dict]] = {}
    reference_name = "C reference (ring_buffer__poll, JSON)"
    for _ in range(repeat):
        results = {name: measure(command, paths["producer"], records, workdir,
                                 library=name.startswith("library"))
                   for name, command in consumers(paths).items()}
        reference = results[reference_name]["delivered"] or 1
        for name, result in results.items():
            result["ratio_to_c"] = round(result["delivered"] / reference, 3)
            rounds.setdefault(name, []).append(result)
    summary = {}
    c_cpu = statistics.median(r["cpu_s"] for r in rounds[reference_name]) or 1e-9
    c_rss = max(r["max_rss_mb"] for r in rounds[reference_name]) or 1e-9
    for name, results in rounds.items():
        worst = min(results, key=lambda r: r["ratio_to_c"])
        cpu = statistics.median(r["cpu_s"] for r in results)
        rss = max(r["max_rss_mb"] for r in results)
        summary[name] = {**worst, "rounds": len(results), "cpu_s": round(cpu, 2),
                         "max_rss_mb": rss, "cpu_x_c": round(cpu / c_cpu, 1),
                         "rss_x_c": round(rss / c_rss, 1),
                         "ratios": [r["ratio_to_c"] for r in results]}
    return summary


def table(results: dict, records: int) -> str:
    rounds = max(r.get("rounds", 1) for r in results.values())
    header = (f"{'consumer':40} {'delivered':>10} {'lost':>9} {'rec/s':>10} {'cpu s':>6} "
              f"{'x C':>5} {'RSS MB':>7} {'x C':>5} {'records x C':>11}")
    title = (f"throughput: getppid flood, {records:,} records of 48 bytes; worst of {rounds} "
             "round(s) (CPU: median, RSS: peak)")
    lines = [title, header]
    for name, r in results.items():
        lines.append(f"{name:40} {r['delivered']:>10,} {r['lost']:>9,} "
                     f"{r['records_per_s']:>10,} {r['cpu_s']:>6} {r.get('cpu_x_c', 1.0):>5} "
                     f"{r['max_rss_mb']:>7} {r.get('rss_x_c', 1.0):>5} "
                     f"{r['ratio_to_c']:>11}")
    return "\n".join(lines)
