"""Compile: `ecc` against the bare clang command it wraps (same flags, same vmlinux.h),
on the same source; the median of several rounds. ecc compiles with a precompiled
vmlinux.h (built once, cached); that clang command is shown too."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from common import ROOT, medians_against


def _ms(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
    return (time.perf_counter() - start) * 1000


def run(workdir: Path, rounds: int) -> dict:
    from eunomia.compiler.build import EUNOMIA_INCLUDE
    from eunomia.compiler.clang import clang_command
    from eunomia.compiler.pch import vmlinux_pch
    from eunomia.compiler.toolchain import find_toolchain, system_include_dirs, target_arch
    from eunomia.compiler.vmlinux import vmlinux_include_dir
    source = ROOT / "examples/exitsnoop/exitsnoop.bpf.c"
    tools = find_toolchain(None)
    vmlinux = vmlinux_include_dir(tools.require_bpftool())
    # the include directories ecc gives clang: vmlinux.h, the source's, <eunomia/...>
    bare = clang_command(tools.clang, target_arch(), source, workdir / "bare.bpf.o",
                         [vmlinux, source.parent, EUNOMIA_INCLUDE], (),
                         system_include_dirs(tools.clang))
    ecc = [sys.executable, "-m", "eunomia.cli.ecc", str(source), "-o",
           str(workdir / "ecc-out")]
    commands = {"clang (bare command, reference)": bare}
    pch = vmlinux_pch(tools.clang, target_arch(), vmlinux)
    if pch is not None:
        commands["clang with ecc's precompiled vmlinux.h"] = [
            *bare[:-4], "-include-pch", str(pch), *bare[-4:]]
    commands["ecc (to package.json)"] = ecc
    return medians_against(commands, _ms, rounds, "clang (bare command, reference)",
                           "ratio_to_clang")


def table(results: dict) -> str:
    lines = ["compile: examples/exitsnoop (median)", f"{'':40} {'ms':>8} {'x clang':>8}"]
    for name, r in results.items():
        lines.append(f"{name:40} {r['median_ms']:>8} {r['ratio_to_clang']:>8}")
    return "\n".join(lines)
