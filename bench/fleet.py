"""Fleet benchmark: from `ecli fleet apply` to "running on all N agents", and a hot update
through the fleet, with N agents (`ecli server --fleet`) on this machine and a real etcd,
next to the reference: one `ecli client start` (and `--replace`) to one `ecli server`.

    sudo python3 bench/fleet.py [--agents 2,5,10] [--rounds 10]

Apply-to-running is measured as `ecli fleet apply --wait` measures it: the desired entry
is written, then etcd is read until every agent's status reports the new version running.
Agents write their status as soon as they converge. The seed's promise is an update in
under 100 ms.
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

from eunomia import compile
from eunomia.cli.client import Client
from eunomia.fleet.control import Fleet
from eunomia.fleet.model import Keys
from eunomia.fleet.store import Store, StoreOptions
from tests.etcd import Etcd
from tests.service import ServiceProcess

ECLI = [sys.executable, "-m", "eunomia.cli.ecli"]


def summary(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {"median_ms": round(statistics.median(ordered), 1),
            "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))], 1),
            "max_ms": round(ordered[-1], 1)}


def server(*args: str) -> ServiceProcess:
    return ServiceProcess([*ECLI, "server", "--port", "0", *args], r"listening on (\S+)",
                          "ecli server")


def reference(package: bytes, rounds: int) -> tuple[list[float], list[float]]:
    """One `ecli client start` and one `--replace` to one `ecli server`."""
    running = server()
    client = Client(running.url)
    body = {"program_data_buf": base64.b64encode(package).decode(), "program_type": "json"}
    starts, updates = [], []
    try:
        for _ in range(rounds + 1):         # the first warms the server up
            began = time.perf_counter()
            started = client.call("POST", "/task", body)
            starts.append((time.perf_counter() - began) * 1000)
            began = time.perf_counter()
            updated = client.call("POST", "/task", {**body, "replace": started["id"]})
            updates.append((time.perf_counter() - began) * 1000)
            client.call("POST", "/stop", {"id": updated["id"]})
    finally:
        running.stop()
    return starts[1:], updates[1:]


def through_fleet(package: bytes, etcd_urls: str, agents: int,
                  rounds: int) -> tuple[list[float], list[float]]:
    store = Store(StoreOptions(etcd_urls.split(",")))
    fleet = Fleet(store, Keys(f"/eunomia/bench/{agents}"))
    nodes = [server("--fleet", etcd_urls, "--node", f"bench-{i}", "--prefix",
                    f"/eunomia/bench/{agents}") for i in range(agents)]
    try:
        deadline = time.monotonic() + 120
        while len(fleet.nodes()) < agents and time.monotonic() < deadline:
            time.sleep(0.1)
        applies, updates = [], []
        for round_ in range(rounds + 1):
            began = time.perf_counter()
            applied = fleet.apply("bench", package, [], {}, "bench")
            fleet.wait_running(applied.desired, 120)
            applies.append((time.perf_counter() - began) * 1000)
            began = time.perf_counter()
            updated = fleet.apply("bench", package, ["--targ_pid", str(round_ + 1)], {},
                                  "bench")
            fleet.wait_running(updated.desired, 120)
            updates.append((time.perf_counter() - began) * 1000)
            fleet.remove("bench")
            fleet.wait_removed("bench", 120)
        return applies[1:], updates[1:]
    finally:
        for node in nodes:
            node.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", default="2,5,10")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--json-out", default=str(HERE / "results-fleet.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        compile(str(ROOT / "examples/exitsnoop/exitsnoop.bpf.c"),
                str(ROOT / "examples/exitsnoop/exitsnoop.h"), outdir=tmp)
        package = (Path(tmp) / "package.json").read_bytes()
        (Path(tmp) / "etcd").mkdir()
        etcd = Etcd(Path(tmp) / "etcd")
        try:
            starts, replaces = reference(package, args.rounds)
            rows = {"reference: ecli client start": summary(starts),
                    "reference: ecli client start --replace": summary(replaces)}
            for count in (int(n) for n in args.agents.split(",")):
                applies, updates = through_fleet(package, etcd.urls, count, args.rounds)
                rows[f"fleet apply -> running on {count}"] = summary(applies)
                rows[f"fleet hot update on {count}"] = summary(updates)
        finally:
            etcd.stop()
    start_ref = rows["reference: ecli client start"]["median_ms"]
    update_ref = rows["reference: ecli client start --replace"]["median_ms"]
    print(f"package: {len(package):,} bytes, {args.rounds} rounds")
    print(f"{'':42} {'median ms':>10} {'p90 ms':>8} {'max ms':>8} {'x ref':>6}")
    for name, row in rows.items():
        base = update_ref if ("update" in name or "replace" in name) else start_ref
        print(f"{name:42} {row['median_ms']:>10} {row['p90_ms']:>8} {row['max_ms']:>8} "
              f"{row['median_ms'] / base:>6.2f}")
    Path(args.json_out).write_text(json.dumps(
        {"package_bytes": len(package), "rounds": args.rounds, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

