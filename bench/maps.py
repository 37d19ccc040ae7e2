"""Maps: reading every entry of a 10,000-entry hash map (u32 -> 32-byte struct), with
batch lookups and key by key, through the typed maps, against the same two passes in C
(bench/map_reference.c) on the same map; the median of several rounds."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from common import HERE, gcc, median_ms, ratio

ENTRIES = 10_000


def _ms(function) -> float:
    start = time.perf_counter()
    function()
    return (time.perf_counter() - start) * 1000


def run(workdir: Path, rounds: int) -> dict:
    import eunomia
    package = eunomia.compile(str(HERE / "maps.bpf.c"), str(HERE / "maps.h"),
                              outdir=str(workdir / "maps"))
    reference = gcc(HERE / "map_reference.c", workdir / "map_reference", "-lbpf")
    with package.open() as prog:
        table = prog.maps["table"]
        for key in range(ENTRIES):
            table[key] = {"count": key, "bytes": key * 3, "name": f"entry-{key}"}
        assert len(table.items()) == ENTRIES
        map_id = table.raw.info["id"]
        c_batch, c_key = [], []
        for _ in range(rounds):
            out = subprocess.run([str(reference), str(map_id)], check=True,
                                 capture_output=True, text=True).stdout.split()
            c_batch.append(float(out[0]))
            c_key.append(float(out[1]))
        batch = [_ms(table.items) for _ in range(rounds)]
        per_key = [_ms(lambda: [(key, table[key]) for key in table]) for _ in range(rounds)]
    results = {
        "C: BPF_MAP_LOOKUP_BATCH": {"median_ms": median_ms(c_batch)},
        "typed map items() (batch, decoded)": {"median_ms": median_ms(batch)},
        "C: get_next_key + lookup": {"median_ms": median_ms(c_key)},
        "typed map key by key (decoded)": {"median_ms": median_ms(per_key)},
    }
    results["typed map items() (batch, decoded)"]["ratio_to_c"] = ratio(
        median_ms(batch), median_ms(c_batch))
    results["typed map key by key (decoded)"]["ratio_to_c"] = ratio(
        median_ms(per_key), median_ms(c_key))
    return results


def table(results: dict) -> str:
    lines = [f"maps: reading a {ENTRIES:,}-entry hash map (median)",
             f"{'':40} {'ms':>8} {'x C':>6}"]
    for name, r in results.items():
        lines.append(f"{name:40} {r['median_ms']:>8} {r.get('ratio_to_c', ''):>6}")
    return "\n".join(lines)
