"""Server latency benchmark: how long a pushed package takes to be running, and how long a
hot update takes, next to the same open+attach done in-process (the floor the server's
HTTP, base64 and validation add to).

    sudo python3 bench/server_latency.py [--rounds 20] [--package PATH]

Start-to-attached is the POST /task round trip: the server answers only once every
program is attached. Hot update is a POST /task with `replace`: the new version attached,
then the old one stopped. eunomia-bpf's promise is under 100 ms for both.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from eunomia import Package, compile
from eunomia.cli.client import Client
from eunomia.server import Server, TaskManager


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return (time.perf_counter() - start) * 1000


def timed_call(client: Client, body: dict) -> tuple[float, dict]:
    start = time.perf_counter()
    reply = client.call("POST", "/task", body)
    return (time.perf_counter() - start) * 1000, reply


def summary(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {"median_ms": round(statistics.median(ordered), 1),
            "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))], 1),
            "max_ms": round(ordered[-1], 1)}


def in_process(package_bytes: bytes, rounds: int) -> list[float]:
    """Package bytes -> programs attached, in this process (closing is not timed)."""
    opened = []

    def once():
        program = Package.load(package_bytes).open()
        program.attach()
        opened.append(program)
    samples = []
    for _ in range(rounds + 1):         # the first warms imports and caches, as a
        samples.append(timed(once))     # running server is warm
        opened.pop().close()
    return samples[1:]


def through_server(package_bytes: bytes, rounds: int) -> tuple[list[float], list[float]]:
    server = Server(port=0, tasks=TaskManager(max_tasks=4))
    server.start_in_thread()
    client = Client(server.url)
    body = {"program_data_buf": base64.b64encode(package_bytes).decode(),
            "program_type": "json"}
    try:
        starts, updates = [], []
        for _ in range(rounds):
            elapsed, started = timed_call(client, body)
            starts.append(elapsed)
            elapsed, updated = timed_call(client, {**body, "replace": started["id"]})
            updates.append(elapsed)
            client.call("POST", "/stop", {"id": updated["id"]})
        return starts, updates
    finally:
        server.shutdown_all()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--package", help="package.json to push (default: exitsnoop, "
                        "compiled now)")
    parser.add_argument("--json-out", default=str(HERE / "results-server.json"))
    args = parser.parse_args()
    if args.package:
        package_bytes = Path(args.package).read_bytes()
    else:
        with tempfile.TemporaryDirectory() as tmp:
            compile(str(ROOT / "examples/exitsnoop/exitsnoop.bpf.c"),
                    str(ROOT / "examples/exitsnoop/exitsnoop.h"), outdir=tmp)
            package_bytes = (Path(tmp) / "package.json").read_bytes()
    floor = summary(in_process(package_bytes, args.rounds))
    starts, updates = through_server(package_bytes, args.rounds)
    rows = {"in-process open+attach (reference)": floor,
            "POST /task (start-to-attached)": summary(starts),
            "POST /task replace (hot update)": summary(updates)}
    print(f"package: {len(package_bytes):,} bytes, {args.rounds} rounds")
    print(f"{'':40} {'median ms':>10} {'p90 ms':>8} {'max ms':>8} {'x ref':>6}")
    for name, row in rows.items():
        ratio = row["median_ms"] / floor["median_ms"]
        print(f"{name:40} {row['median_ms']:>10} {row['p90_ms']:>8} {row['max_ms']:>8} "
              f"{ratio:>6.2f}")
    Path(args.json_out).write_text(json.dumps(
        {"package_bytes": len(package_bytes), "rounds": args.rounds, "rows": rows},
        indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
