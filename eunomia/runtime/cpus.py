"""Online CPUs, from sysfs ("0-3,5")."""

from __future__ import annotations

import os


def online_cpus(path: str = "/sys/devices/system/cpu/online") -> list[int]:
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return list(range(os.cpu_count() or 1))
    cpus: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        cpus.extend(range(int(low), int(high or low) + 1))
    return cpus


def possible_cpu_count(path: str = "/sys/devices/system/cpu/possible") -> int:
    """How many CPUs per-CPU maps hold a value for (the kernel's possible mask)."""
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return os.cpu_count() or 1
    return max(int(part.partition("-")[2] or part) for part in text.split(",")) + 1
