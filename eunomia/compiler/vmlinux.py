"""vmlinux.h for the running kernel, generated once from its BTF and cached.

Cache: $XDG_CACHE_HOME/eunomia (default ~/.cache/eunomia)/vmlinux/<release>-<sha256 of
the BTF blob[:16]>/vmlinux.h, so a new kernel (or a rebuilt one) gets its own header.
"""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from pathlib import Path

from ..errors import CompileError
from ..kinds import KERNEL_BTF
from ..package import write_atomically


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "eunomia"


def vmlinux_include_dir(bpftool: str, btf_path: str = KERNEL_BTF,
                        cache: Path | None = None) -> Path:
    """The directory holding vmlinux.h for the kernel whose BTF is `btf_path`."""
    try:
        blob = Path(btf_path).read_bytes()
    except OSError as exc:
        raise CompileError(f"cannot read kernel BTF {btf_path}: {exc.strerror or exc}; "
                           "vmlinux.h needs a kernel built with CONFIG_DEBUG_INFO_BTF") from None
    key = f"{platform.release()}-{hashlib.sha256(blob).hexdigest()[:16]}"
    directory = (cache or cache_root()) / "vmlinux" / key
    header = directory / "vmlinux.h"
    if header.is_file() and header.stat().st_size > 0:
        return directory
    result = subprocess.run([bpftool, "btf", "dump", "file", btf_path, "format", "c"],
                            capture_output=True, check=False)
    if result.returncode != 0 or not result.stdout:
        raise CompileError(f"bpftool could not dump {btf_path} as C "
                           f"(exit {result.returncode})",
                           diagnostics=result.stderr.decode(errors="replace"))
    write_atomically(header, result.stdout)
    return directory
