"""Start-up: package on disk -> programs attached. `ecli run package.json` (and with a
flag, which takes the way through the parsers) against a minimal C libbpf loader of the
same object (bench/loader.c), all spawned fresh, timed until they say "attached"; the
median of several rounds."""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

from common import HERE, ROOT, gcc, medians_against, ms_until_stderr_says

FLOOR = "python3 -c pass (the floor)"
ECLI = "ecli run (package.json -> attached)"
ECLI_FLAGS = "ecli run --json (a flag: its parser)"


def run(workdir: Path, rounds: int) -> dict:
    import eunomia
    outdir = workdir / "startup"
    eunomia.compile(str(ROOT / "examples/exitsnoop/exitsnoop.bpf.c"), outdir=str(outdir))
    loader = gcc(HERE / "loader.c", workdir / "loader", "-lbpf")
    commands = {
        "C libbpf loader (object -> attached)": [str(loader),
                                                 str(outdir / "exitsnoop.bpf.o")],
        # the interpreter alone: what any Python command pays before its first line
        FLOOR: [sys.executable, "-c", "import sys; sys.stderr.write('attached\\n')"],
        # the installed command, as a user runs it (bin/ecli, by scripts/setup)
        ECLI: [sys.executable, str(Path(sysconfig.get_path("scripts")) / "ecli"), "run",
               str(outdir / "package.json")],
        # any word after `run` takes the way through the command line's parsers
        ECLI_FLAGS: [sys.executable, str(Path(sysconfig.get_path("scripts")) / "ecli"),
                     "run", "--json", str(outdir / "package.json")],
    }
    results = medians_against(commands, lambda c: ms_until_stderr_says(c, b"attached"),
                              rounds, "C libbpf loader (object -> attached)", "ratio_to_c")
    for name in (ECLI, ECLI_FLAGS):
        results[name]["above_floor_ms"] = round(results[name]["median_ms"]
                                                - results[FLOOR]["median_ms"], 1)
    return results


def table(results: dict) -> str:
    lines = ["start-up: exitsnoop, spawn -> attached (median)",
             f"{'':40} {'ms':>8} {'x C':>6}"]
    for name, r in results.items():
        lines.append(f"{name:40} {r['median_ms']:>8} {r['ratio_to_c']:>6}")
    if "above_floor_ms" in results.get(ECLI, {}):
        lines.append(f"{'ecli above the floor (goal: <= 30)':40} "
                     f"{results[ECLI]['above_floor_ms']:>8}")
    if "above_floor_ms" in results.get(ECLI_FLAGS, {}):
        lines.append(f"{'  with a flag, above the floor':40} "
                     f"{results[ECLI_FLAGS]['above_floor_ms']:>8}")
    return "\n".join(lines)
