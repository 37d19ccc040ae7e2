"""Compile: `ecc` against the bare clang command it wraps (same flags, same vmlinux.h),
on the same source; the median of several rounds. ecc compiles with a precompiled
vmlinux.h (built once, cached); that clang command is shown too."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from common import ROOT, interleaved, median_ms, ratio


def _ms(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
    return (time.perf_counter() - start) * 1000


def run(workdir: Path, rounds: int) -> dict:
    from eunomia.compiler.clang import clang_command
    from eunomia.compiler.pch import vmlinux_pch
    from eunomia.compiler.toolchain import find_toolchain, target_arch
    from eunomia.compiler.vmlinux import vmlinux_include_dir
    source = ROOT / "examples/exitsnoop/exitsnoop.bpf.c"
    tools = find_toolchain(None)
    vmlinux = vmlinux_include_dir(tools.require_bpftool())
    bare = clang_command(tools.clang, target_arch(), source, workdir / "bare.bpf.o",
                         [vmlinux, source.parent])
    ecc = [sys.executable, "-m", "eunomia.cli.ecc", str(source), "-o",
           str(workdir / "ecc-out")]
    commands = {"clang (bare command, reference)": bare}
    pch = vmlinux_pch(tools.clang, target_arch(), vmlinux)
    if pch is not None:
        commands["clang with ecc's precompiled vmlinux.h"] = [
            *bare[:-4], "-include-pch", str(pch), *bare[-4:]]
    commands["ecc (to package.json)"] = ecc
    for command in commands.values():
        _ms(command)        # warm caches (vmlinux.h, the page cache)
    samples = interleaved(commands, _ms, rounds)
    results = {name: {"median_ms": median_ms(samples[name])} for name in commands}
    reference = results["clang (bare command, reference)"]["median_ms"]
    for result in results.values():
        result["ratio_to_clang"] = ratio(result["median_ms"], reference)
    return results


def table(results: dict) -> str:
    lines = ["compile: examples/exitsnoop (median)", f"{'':40} {'ms':>8} {'x clang':>8}"]
    for name, r in results.items():
        lines.append(f"{name:40} {r['median_ms']:>8} {r['ratio_to_clang']:>8}")
    return "\n".join(lines)
