"""Where a uprobe's binary lives: a path, a program on $PATH, or a bare library name."""

from __future__ import annotations

import os
import shutil
import subprocess


def resolve_binary(name: str) -> str | None:
    """An absolute path for `name`: "libc.so.6" via `ldconfig -p` (or this process's
    mappings), "bash" via $PATH, "/usr/bin/x" as is; None when no such file exists."""
    if "/" in name:
        return os.path.abspath(name) if os.path.exists(name) else None
    if ".so" in name:
        found = _from_ldconfig(name) or _from_own_mappings(name)
        if found:
            return found
    found = shutil.which(name)
    return os.path.abspath(found) if found else None


def _from_ldconfig(name: str) -> str | None:
    """The first `ldconfig -p` entry named `name` (64-bit entries come first on x86_64)."""
    for ldconfig in ("ldconfig", "/sbin/ldconfig", "/usr/sbin/ldconfig"):
        try:
            out = subprocess.run([ldconfig, "-p"], capture_output=True, text=True,
                                 timeout=10, check=False).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        for line in out.splitlines():
            left, arrow, path = line.partition("=>")
            if arrow and left.strip().split(" ", 1)[0] == name and os.path.exists(path.strip()):
                return path.strip()
        return None
    return None


def _from_own_mappings(name: str) -> str | None:
    """A library this process has mapped whose file name is `name` (or starts with it)."""
    try:
        with open("/proc/self/maps") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        path = line.split(None, 5)[-1] if line.count(" ") >= 5 else ""
        base = os.path.basename(path)
        if path.startswith("/") and (base == name or base.startswith(name + ".")):
            return path
    return None
