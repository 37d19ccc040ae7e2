"""The programs ecc runs: clang (required), llvm-strip (optional), bpftool (for vmlinux.h)."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path

from ..errors import CompileError
from ..valueclass import valueclass

# Debian installs versioned names too; newest first (clang-19 compiles BPF C that clang-14
# refuses, e.g. signed division).
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


@valueclass(frozen=True)
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
    """The clang to use: the argument, else $CLANG, else the newest of clang-20 ...
    clang-11, else clang."""
    if clang:
        found = shutil.which(clang) or (clang if Path(clang).is_file() else None)
        if found is None:
            raise CompileError(f"clang not found at '{clang}' (given with -c)")
        return found
    if os.environ.get("CLANG"):
        return find_clang(os.environ["CLANG"])
    found = _which([*(f"clang-{v}" for v in _VERSIONS), "clang"])
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


def system_include_dirs(clang: str, cache: Path | None = None) -> tuple[str, ...]:
    """clang's own #include <...> search list (`clang -v -E`), cached per clang binary:
    what libbpf-tools' Makefiles add with -idirafter (CLANG_BPF_SYS_INCLUDES)."""
    try:
        stat = os.stat(os.path.realpath(clang))
    except OSError:
        return ()
    if cache is None:
        from .vmlinux import cache_root
        cache = cache_root() / "clang"
    key = cache / f"{os.path.basename(clang)}-{stat.st_size}-{int(stat.st_mtime)}.includes"
    try:
        return tuple(line for line in key.read_text().splitlines() if line)
    except OSError:
        pass
    try:
        result = subprocess.run([clang, "-v", "-E", "-x", "c", "-"], input="",
                                capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ()
    dirs, inside = [], False
    for line in result.stderr.splitlines():
        if line.startswith("#include <...> search starts here"):
            inside = True
        elif line.startswith("End of search list"):
            break
        elif inside and line.startswith(" "):
            dirs.append(line.strip().removesuffix(" (framework directory)"))
    try:
        key.parent.mkdir(parents=True, exist_ok=True)
        key.write_text("".join(f"{d}\n" for d in dirs))
    except OSError:
        pass        # no cache: asked again next time
    return tuple(dirs)
