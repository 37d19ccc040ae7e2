"""What the running kernel supports (libbpf's probes), and BPF run-time statistics."""

from __future__ import annotations

import os

from .. import _libbpf
from ..errors import LibbpfError

BPF_STATS_RUN_TIME = 0


def prog_type_supported(prog_type: int) -> bool:
    """Whether the kernel loads programs of BPF_PROG_TYPE_* `prog_type`."""
    return _probe(_libbpf.lib.bpf.libbpf_probe_bpf_prog_type(prog_type, None),
                  f"probe program type {prog_type}")


def map_type_supported(map_type: int) -> bool:
    """Whether the kernel creates maps of BPF_MAP_TYPE_* `map_type`."""
    return _probe(_libbpf.lib.bpf.libbpf_probe_bpf_map_type(map_type, None),
                  f"probe map type {map_type}")


def helper_supported(prog_type: int, helper_id: int) -> bool:
    """Whether programs of `prog_type` may call BPF helper number `helper_id`."""
    return _probe(_libbpf.lib.bpf.libbpf_probe_bpf_helper(prog_type, helper_id, None),
                  f"probe helper {helper_id} for program type {prog_type}")


def _probe(result: int, what: str) -> bool:
    _libbpf.check_int(result, what)
    return result == 1


class RunTimeStats:
    """Keeps BPF run-time statistics (run_cnt, run_time_ns) on while open."""

    def __init__(self):
        self.fd = _libbpf.lib.bpf.bpf_enable_stats(BPF_STATS_RUN_TIME)
        if self.fd < 0:
            raise LibbpfError("enable BPF run-time statistics", errno=-self.fd)

    def close(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
