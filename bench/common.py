"""What the benchmark sections share: paths, building, timing a process until it says
something on stderr, and medians."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def gcc(source: Path, output: Path, *libs: str) -> Path:
    subprocess.run(["gcc", "-O2", "-I", str(HERE), "-o", str(output), str(source), *libs],
                   check=True)
    return output


def ms_until_stderr_says(command: list[str], word: bytes, timeout: float = 60) -> float:
    """Milliseconds from spawning `command` until a line of its stderr holds `word`; the
    process is then stopped."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            cwd=ROOT)
    try:
        deadline = start + timeout
        while True:
            line = proc.stderr.readline()
            if word in line:
                return (time.perf_counter() - start) * 1000
            if not line or time.perf_counter() > deadline:
                raise SystemExit(f"{command[0]} never said {word!r}")
    finally:
        proc.terminate()
        proc.wait()


def median_call_ms(function, rounds: int) -> float:
    """The median time of `rounds` calls of `function`, in milliseconds."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples), 1)


def ratio(value: float, reference: float) -> float:
    return round(value / reference, 2) if reference else 0.0


def medians_against(commands: dict, measure, rounds: int, reference: str,
                    ratio_key: str) -> dict:
    """name -> {"median_ms", ratio_key: median / the reference's median}: each command
    run once to warm caches, then all of them taking turns for `rounds` rounds."""
    for command in commands.values():
        measure(command)
    samples = interleaved(commands, measure, rounds)
    results = {name: {"median_ms": median_ms(samples[name])} for name in commands}
    for result in results.values():
        result[ratio_key] = ratio(result["median_ms"], results[reference]["median_ms"])
    return results


def interleaved(commands: dict, measure, rounds: int) -> dict[str, list[float]]:
    """name -> samples, the commands taking turns each round, so that a change in the
    machine's load affects a figure and its reference alike."""
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, command in commands.items():
            samples[name].append(measure(command))
    return samples
