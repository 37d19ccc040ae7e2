"""Memory: the resident set (VmRSS) of each long-running front end, idle and with tasks,
next to two references in the same run: the interpreter alone and a minimal C libbpf
loader of the same program (exitsnoop, whose ring buffer is 256 KiB).

- `ecli run` with exitsnoop attached;
- `ecli server` idle, then with 1 and 4 exitsnoop tasks running (the cost per task is
  the growth divided by the tasks);
- a fleet agent (`ecli server --fleet`) idle, registered with a real etcd (when
  etcd is installed; `scripts/setup-test` installs it).

Each figure is the median of `rounds` fresh processes, read once the process says it is
ready (attached, listening, registered) and the tasks are running.
"""

from __future__ import annotations

import base64
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import HERE, ROOT, gcc

ECLI = [sys.executable, "-m", "eunomia.cli.ecli"]
TASKS = (1, 4)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def ready_rss(command: list[str], word: bytes, timeout: float = 60) -> float:
    """RSS of `command` once a line of its stderr holds `word`; then it is stopped."""
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            cwd=ROOT)
    try:
        deadline = time.monotonic() + timeout
        while word not in proc.stderr.readline():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{command[0]} never said {word!r}")
        return rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait()


def server_rss(package: bytes) -> dict[str, float]:
    """RSS of one `ecli server`: idle, then with each count of TASKS running."""
    from eunomia.cli.client import Client
    from tests.service import ServiceProcess
    server = ServiceProcess([*ECLI, "server", "--port", "0"], r"listening on (\S+)",
                            "ecli server")
    try:
        client = Client(server.url)
        found = {"idle": rss_mb(server.proc.pid)}
        body = {"program_data_buf": base64.b64encode(package).decode(),
                "program_type": "json"}
        running = 0
        for count in TASKS:
            while running < count:
                client.call("POST", "/task", body)      # answers once attached
                running += 1
            found[count] = rss_mb(server.proc.pid)
        return found
    finally:
        server.stop()


def agent_rss(etcd_urls: str) -> float:
    """RSS of a fleet agent once etcd lists its node."""
    from eunomia.fleet.control import Fleet
    from eunomia.fleet.model import Keys
    from eunomia.fleet.store import Store, StoreOptions
    from tests.service import ServiceProcess
    fleet = Fleet(Store(StoreOptions(etcd_urls.split(","))), Keys("/eunomia/bench-memory"))
    agent = ServiceProcess([*ECLI, "server", "--port", "0", "--fleet", etcd_urls, "--node",
                            "bench-memory", "--prefix", "/eunomia/bench-memory"],
                           r"listening on (\S+)", "fleet agent")
    try:
        deadline = time.monotonic() + 60
        while not fleet.nodes():
            if time.monotonic() > deadline:
                raise SystemExit("the fleet agent never registered")
            time.sleep(0.1)
        return rss_mb(agent.proc.pid)
    finally:
        agent.stop()


def run(workdir: Path, rounds: int) -> dict:
    import eunomia
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    outdir = workdir / "memory"
    eunomia.compile(str(ROOT / "examples/exitsnoop/exitsnoop.bpf.c"), outdir=str(outdir))
    package = (outdir / "package.json").read_bytes()
    loader = gcc(HERE / "loader.c", workdir / "loader", "-lbpf")
    samples: dict[str, list[float]] = {}

    def add(name: str, value: float) -> None:
        samples.setdefault(name, []).append(value)

    etcd = None
    if shutil.which("etcd"):
        from tests.etcd import Etcd
        (workdir / "etcd").mkdir(exist_ok=True)
        etcd = Etcd(workdir / "etcd")
    try:
        idle_python = ("import sys, time; sys.stderr.write('ready\\n'); sys.stderr.flush(); "
                       "time.sleep(60)")
        for _ in range(rounds):
            add("python3 (the interpreter alone)",
                ready_rss([sys.executable, "-c", idle_python], b"ready"))
            add("C libbpf loader, exitsnoop attached",
                ready_rss([str(loader), str(outdir / "exitsnoop.bpf.o")], b"attached"))
            add("ecli run, exitsnoop attached",
                ready_rss([*ECLI, "run", str(outdir / "package.json")], b"attached"))
            server = server_rss(package)
            add("ecli server, idle", server["idle"])
            for count in TASKS:
                add(f"ecli server, {count} task(s)", server[count])
            add("ecli server, per task (4 running)",
                (server[TASKS[-1]] - server["idle"]) / TASKS[-1])
            if etcd is not None:
                add("fleet agent, idle (registered)", agent_rss(etcd.urls))
    finally:
        if etcd is not None:
            etcd.stop()
    floor = statistics.median(samples["python3 (the interpreter alone)"])
    return {name: {"rss_mb": round(statistics.median(values), 1),
                   "above_python_mb": None if "per task" in name else
                   round(statistics.median(values) - floor, 1)}
            for name, values in samples.items()}


def table(results: dict) -> str:
    lines = ["memory: resident set (VmRSS, median), exitsnoop",
             f"{'':40} {'MB':>8} {'above python3':>14}"]
    for name, r in results.items():
        above = "" if r["above_python_mb"] is None else r["above_python_mb"]
        lines.append(f"{name:40} {r['rss_mb']:>8} {above:>14}")
    return "\n".join(lines)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="eunomia-bench-") as tmp:
        print(table(run(Path(tmp), 3)))
