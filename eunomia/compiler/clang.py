"""Running clang on a BPF translation unit, and stripping DWARF (never BTF) from the result."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from ..errors import CompileError
from ..valueclass import field, valueclass

LIBBPF_HEADER = "bpf/bpf_helpers.h"
_SYSTEM_INCLUDE_DIRS = ("/usr/include", "/usr/local/include")


@valueclass
class ClangRun:
    """What was run and how long it took, for `ecc -v`."""

    command: list[str]
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


DEFAULT_MCPU = "v3"     # atomics with fetch, jmp32: every kernel with BTF has them


def target_flags(arch: str, cflags=()) -> list[str]:
    """What every BPF compile gets (a precompiled header too): debug info for BTF, -O2,
    the BPF target, -mcpu=v3 unless the cflags choose one, the arch for bpf_tracing.h."""
    mcpu = [] if any(flag.startswith("-mcpu") for flag in cflags) else [f"-mcpu={DEFAULT_MCPU}"]
    return ["-g", "-O2", "-target", "bpf", *mcpu, f"-D__TARGET_ARCH_{arch}"]


def clang_command(clang: str, arch: str, source: Path, output: Path,
                  include_dirs: list[Path], cflags=(), system_includes=()) -> list[str]:
    """The compile command. `system_includes` (clang's own search list, see
    toolchain.system_include_dirs) come last, with -idirafter, as libbpf-tools' Makefiles
    add them: BPF's target has no system headers of its own, so <linux/types.h> would
    not find <asm/types.h> without the host's multiarch directory."""
    return [clang, *target_flags(arch, cflags), *(f"-I{d}" for d in include_dirs), *cflags,
            *(flag for d in system_includes for flag in ("-idirafter", d)),
            "-c", str(source), "-o", str(output)]


def check_libbpf_headers(cflags=()) -> None:
    """CompileError when bpf/bpf_helpers.h is nowhere clang will look."""
    extra = [flag[2:] for flag in cflags if flag.startswith("-I") and len(flag) > 2]
    for directory in (*extra, *_SYSTEM_INCLUDE_DIRS):
        if os.path.isfile(os.path.join(directory, LIBBPF_HEADER)):
            return
    raise CompileError(f"{LIBBPF_HEADER} not found: install libbpf's headers "
                       "(apt-get install libbpf-dev) or pass -a -I<dir holding bpf/>")


def clean_diagnostics(stderr: str, wrapper: Path | None) -> str:
    """clang's output without the lines that only point at ecc's generated wrapper."""
    if wrapper is None:
        return stderr
    noise = re.compile(r"^In file included from " + re.escape(str(wrapper)) + r":\d+:\s*$")
    return "".join(line for line in stderr.splitlines(keepends=True)
                   if not noise.match(line.rstrip("\n")))


def run_clang(command: list[str], wrapper: Path | None = None, source: str | None = None) -> str:
    """Runs clang; CompileError with its diagnostics verbatim on failure. Returns warnings.

    `source` names the user's file in the error when clang compiled ecc's `wrapper`.
    """
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise CompileError(f"cannot run {command[0]}: {exc.strerror or exc}") from None
    diagnostics = clean_diagnostics(result.stderr, wrapper)
    if result.returncode != 0:
        if source is None:
            source = command[command.index("-c") + 1] if "-c" in command else "the source"
        errors = len(re.findall(r"\berror:", diagnostics))
        raise CompileError(f"clang failed to compile {source}"
                           + (f" ({errors} error{'s' if errors != 1 else ''})" if errors else "")
                           + f" (exit {result.returncode})", diagnostics=diagnostics)
    return diagnostics


class DwarfStrip:
    """`llvm-strip -g` on an object (DWARF dropped, .BTF and .BTF.ext kept), started at
    once so ecc reads the BTF meanwhile; finish() waits. `stripped` is False without
    llvm-strip."""

    def __init__(self, llvm_strip: str | None, obj: Path):
        self.obj = obj
        self.stripped = llvm_strip is not None
        self._proc = None if llvm_strip is None else subprocess.Popen(
            [llvm_strip, "-g", str(obj)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True)

    def finish(self) -> bool:
        if self._proc is not None:
            _, stderr = self._proc.communicate()
            if self._proc.returncode != 0:
                raise CompileError(f"llvm-strip failed on {self.obj} (exit "
                                   f"{self._proc.returncode})", diagnostics=stderr)
        return self.stripped

