"""The programs ecc runs: clang (required), llvm-strip (optional), bpftool (for vmlinux.h)."""

from __future__ import annotations

import os
import platform
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import CompileError

# Debian installs versioned names too; newest first.
_VERSIONS = tuple(range(20, 10, -1))

# `uname -m` -> the arch name bpf_tracing.h expects in __TARGET_ARCH_<arch>
_TARGET_ARCH = {
    "x86_64": "x86", "i386": "x86", "i686": "x86", "amd64": "x86",
    "aarch64": "arm64", "arm64": "arm64",
    "armv7l": "arm", "armv6l": "arm", "arm": "arm",
    "ppc64le": "powerpc", "ppc64": "powerpc",
    "s390x": "s390",
    "riscv64": "riscv",
    "mips": "mips", "mips64": "mips",
    "loongarch64": "loongarch",
    "sparc64": "sparc",
}


@dataclass(frozen=True)
class Toolchain:
    clang: str
    llvm_strip: str | None
    bpftool: str | None

    def require_bpftool(self) -> str:
        if self.bpftool is None:
            raise CompileError("bpftool not found: install it (apt-get install bpftool) to "
                               "generate vmlinux.h from the kernel's BTF")
        return self.bpftool


def _which(names) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def find_clang(clang: str | None = None) -> str:
    """The clang to use: the argument, else $CLANG, else clang, clang-20 ... clang-11."""
    if clang:
        found = shutil.which(clang) or (clang if Path(clang).is_file() else None)
        if found is None:
            raise CompileError(f"clang not found at '{clang}' (given with -c)")
        return found
    if os.environ.get("CLANG"):
        return find_clang(os.environ["CLANG"])
    found = _which(["clang", *(f"clang-{v}" for v in _VERSIONS)])
    if found is None:
        raise CompileError("clang not found: install clang (apt-get install clang) "
                           "or pass -c PATH")
    return found


def _sibling_or_path(clang: str, base: str) -> str | None:
    """llvm-strip matching clang's version when there is one (clang-14 -> llvm-strip-14)."""
    name = Path(clang).name
    suffix = name[len("clang"):] if name.startswith("clang") else ""
    candidates = [str(Path(clang).with_name(base + suffix)), base + suffix, base,
                  *(f"{base}-{v}" for v in _VERSIONS)]
    return _which(candidates)


def find_toolchain(clang: str | None = None) -> Toolchain:
    found = find_clang(clang)
    return Toolchain(clang=found, llvm_strip=_sibling_or_path(found, "llvm-strip"),
                     bpftool=_which(["bpftool", "/usr/sbin/bpftool"]))


def target_arch(machine: str | None = None) -> str:
    """The __TARGET_ARCH_ name for a machine (default: this one); x86_64 -> x86."""
    machine = machine or platform.machine()
    try:
        return _TARGET_ARCH[machine]
    except KeyError:
        raise CompileError(f"unknown target architecture '{machine}': pass "
                           "-a -D__TARGET_ARCH_<arch> yourself") from None
