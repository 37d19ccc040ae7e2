"""Containers: what the container fields cost per record (opensnoop's records printed as
JSON lines and as a table, with the container fields and without them, in the same
run), and what a look at the node's processes costs (a full /proc scan, and the
incremental one a miss or the kernel filter's update makes).

    sudo python3 bench/containers.py [--records N] [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from common import median_ms, ratio


def _records(codec, count: int) -> list[bytes]:
    """Records of the host and of a process in a mount namespace of its own, mixed."""
    other = subprocess.Popen(["unshare", "--mount", "--", "sleep", "600"])
    try:
        deadline = time.monotonic() + 10
        while os.stat(f"/proc/{other.pid}/ns/mnt").st_ino == \
                os.stat("/proc/self/ns/mnt").st_ino and time.monotonic() < deadline:
            time.sleep(0.01)        # until unshare has made the namespace
        namespaces = [os.stat("/proc/self/ns/mnt").st_ino,
                      os.stat(f"/proc/{other.pid}/ns/mnt").st_ino]
    finally:
        other.kill()
        other.wait()
    return [codec.encode({"ts": i, "pid": 1000 + i % 50, "uid": 0, "ret": 3, "flags": 0,
                          "comm": "bench", "fname": f"/etc/file-{i % 100}",
                          "mntns": namespaces[i % 2]}) for i in range(count)]


def _ms(function) -> float:
    start = time.perf_counter()
    function()
    return (time.perf_counter() - start) * 1000


def run(workdir: Path, rounds: int, count: int = 100_000) -> dict:
    import eunomia
    from eunomia.containers import ContainerMap
    from eunomia.events import record_specs
    from eunomia.output.settings import OutputSettings
    package = eunomia.compile(str(HERE.parent / "examples/opensnoop/opensnoop.bpf.c"),
                              str(HERE.parent / "examples/opensnoop/opensnoop.h"),
                              outdir=str(workdir / "opensnoop"))
    spec = record_specs(package)[0]
    raws = _records(spec.codec, count)
    results: dict = {}
    for output in ("json", "table"):
        timings = {"with": [], "without": []}
        for _ in range(rounds):
            for kind in ("without", "with"):
                printer = OutputSettings(output=output).printer(package)
                printer.container_map = ContainerMap()
                if kind == "without":       # the same printer, the plain codec
                    printer._codecs[spec.map_name] = spec.codec
                printer.records(spec, raws[:100], 0.0)      # warm: formats, first scan
                timings[kind].append(_ms(lambda p=printer: p.records(spec, raws, 0.0)))
        with_ms, without_ms = median_ms(timings["with"]), median_ms(timings["without"])
        results[f"{output}, per record"] = {
            "with_us": round(1000 * with_ms / count, 3),
            "without_us": round(1000 * without_ms / count, 3),
            "ratio": ratio(with_ms, without_ms)}
    containers = ContainerMap()
    scan = [_ms(containers.rescan) for _ in range(rounds)]
    refresh = [_ms(containers.refresh) for _ in range(rounds)]
    processes = sum(1 for name in os.listdir("/proc") if name.isdigit())
    results["scan"] = {"processes": processes, "full_ms": median_ms(scan),
                       "incremental_ms": median_ms(refresh)}
    return results


def table(results: dict) -> str:
    lines = [("containers: the container fields' cost (median; ratio to the same printer "
             "without them)"), f"{'':24} {'with µs':>9} {'without µs':>11} {'ratio':>6}"]
    for name, r in results.items():
        if name != "scan":
            lines.append(f"{name:24} {r['with_us']:>9} {r['without_us']:>11} "
                         f"{r['ratio']:>5}x")
    scan = results["scan"]
    lines.append(f"a look at {scan['processes']} processes: full {scan['full_ms']} ms, "
                 f"incremental {scan['incremental_ms']} ms")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        print(table(run(Path(tmp), args.rounds, args.records)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
