"""The benchmark suite: every figure side by side with its reference measured in the
same run, as a ratio. One command runs it all:

    sudo python3 bench/run.py [--only throughput,startup,compile,maps,containers,memory]
                               [--records N]
    sudo python3 bench/run.py --smoke      # every section, tiny sizes, one round

prints one table per section and writes bench/results.json (with the machine it ran on).
The server's latency has its own script: bench/server_latency.py.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

import common
import compile_time
import containers
import maps
import memory
import startup
import throughput

SECTIONS = ("throughput", "startup", "compile", "maps", "containers", "memory")


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.machine())
    return f"{os.cpu_count()} CPUs ({model}), Linux {platform.release()}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections (default: all of {', '.join(SECTIONS)})")
    parser.add_argument("--records", type=int, default=1_000_000,
                        help="getppid() calls of the throughput flood (default 1,000,000)")
    parser.add_argument("--flood-rounds", type=int, default=5,
                        help="rounds of the throughput flood; the worst is reported "
                             "(default 5)")
    parser.add_argument("--rounds", type=int, default=7,
                        help="rounds for the timed sections; the median is kept (default 7)")
    parser.add_argument("--json-out", default=str(common.HERE / "results.json"),
                        help="where to write the results (default bench/results.json)")
    parser.add_argument("--smoke", action="store_true",
                        help="every section at tiny sizes, one round each: seconds in all, "
                             "to check that the bench still runs (the test suite does), "
                             "not to measure")
    args = parser.parse_args(argv)
    if args.smoke:
        args.records, args.flood_rounds, args.rounds = 20_000, 1, 1
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section {unknown[0]!r} (sections: {', '.join(SECTIONS)})")
    if os.geteuid() != 0:
        parser.error("run as root: the benchmarks load BPF programs")
    # Start-up is measured as users meet it, with eunomia's bytecode compiled (pip does
    # that at install; PYTHONDONTWRITEBYTECODE=1 would otherwise recompile every run).
    compileall.compile_dir(str(common.ROOT / "eunomia"), quiet=1)
    results: dict = {"machine": machine(), "records": args.records, "rounds": args.rounds}
    print(f"machine: {results['machine']}\n")
    with tempfile.TemporaryDirectory(prefix="eunomia-bench-") as tmp:
        workdir = Path(tmp)
        if "throughput" in chosen:
            results["throughput"] = throughput.run(workdir, args.records,
                                                   args.flood_rounds)
            print(throughput.table(results["throughput"], args.records) + "\n")
        if "startup" in chosen:
            results["startup"] = startup.run(workdir, args.rounds)
            print(startup.table(results["startup"]) + "\n")
        if "compile" in chosen:
            results["compile"] = compile_time.run(workdir, args.rounds)
            print(compile_time.table(results["compile"]) + "\n")
        if "maps" in chosen:
            results["maps"] = maps.run(workdir, args.rounds)
            print(maps.table(results["maps"]) + "\n")
        if "containers" in chosen:
            results["containers"] = containers.run(workdir, args.rounds,
                                                   min(args.records, 100_000))
            print(containers.table(results["containers"]) + "\n")
        if "memory" in chosen:
            results["memory"] = memory.run(workdir, min(args.rounds, 3))
            print(memory.table(results["memory"]) + "\n")
    Path(args.json_out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
