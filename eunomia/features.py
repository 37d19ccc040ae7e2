"""What this kernel can do for eBPF, probed for real and cached.

    from eunomia import features
    if not features.kprobes():
        print(features.kprobes().reason)     # says what is missing
    python3 -m eunomia.features              # a table of every probe

Each probe answers YES, NO or PROBE_FAILED (the probe itself could not run: no root, no
libbpf); a result is truthy only for YES.
"""

from __future__ import annotations

import errno as errno_mod
import functools
import os
import struct

from . import _libbpf, defaults
from .errors import EunomiaError
from .kinds import AttachType, MapType, ProgType, kernel_btf_path
from .valueclass import valueclass

YES, NO, PROBE_FAILED = "yes", "no", "probe failed"

KPROBE_PMU = os.path.join(defaults.KPROBE_PMU, "type")
# r0 = 0; exit
RETURN_ZERO = struct.pack("<BBhi", 0xb7, 0, 0, 0) + struct.pack("<BBhi", 0x95, 0, 0, 0)
TRAMPOLINE_TARGET = "vfs_read"


@valueclass(frozen=True)
class Feature:
    """One probe's answer: `answer` is YES / NO / PROBE_FAILED, `reason` says why."""

    answer: str
    reason: str = ""

    def __bool__(self) -> bool:
        return self.answer == YES

    def __str__(self) -> str:
        return f"{self.answer} ({self.reason})" if self.reason else self.answer


def _guarded(probe):
    """Caches a probe and turns any failure to run it into PROBE_FAILED."""
    @functools.cache
    @functools.wraps(probe)
    def run() -> Feature:
        try:
            return probe()
        except (EunomiaError, OSError) as exc:
            return Feature(PROBE_FAILED, str(exc))
    return run


@_guarded
def kernel_btf() -> Feature:
    """Kernel BTF, which CO-RE packages relocate against."""
    if os.path.exists(kernel_btf_path()):
        return Feature(YES, kernel_btf_path())
    return Feature(NO, f"{kernel_btf_path()} is missing (kernel built without "
                       "CONFIG_DEBUG_INFO_BTF)")


@_guarded
def kprobes() -> Feature:
    """kprobe/kretprobe programs: libbpf attaches them through the kprobe PMU."""
    if os.path.exists(KPROBE_PMU):
        return Feature(YES, "kprobe PMU present")
    if os.path.exists("/sys/kernel/tracing/kprobe_events"):
        return Feature(YES, "kprobe_events in tracefs (legacy attach)")
    return Feature(NO, "kernel built without kprobes (no kprobe PMU, no kprobe_events): "
                       "use tracepoints instead")


@_guarded
def trampolines() -> Feature:
    """fentry/fexit/fmod_ret/lsm: loads a minimal fentry program on vfs_read."""
    if not kernel_btf():
        return Feature(NO, "needs kernel BTF")
    btf_id = _libbpf.vmlinux_btf_id(TRAMPOLINE_TARGET, AttachType.TRACE_FENTRY)
    if btf_id < 0:
        return Feature(NO, f"the kernel's BTF has no function {TRAMPOLINE_TARGET} "
                           f"({os.strerror(-btf_id)})")
    fd = _libbpf.prog_load(ProgType.TRACING, RETURN_ZERO, AttachType.TRACE_FENTRY, btf_id)
    if fd >= 0:
        os.close(fd)
        return Feature(YES, f"an fentry program on {TRAMPOLINE_TARGET} loaded")
    return Feature(NO, f"the kernel refused an fentry program ({errno_mod.errorcode.get(-fd, -fd)}"
                       f": {os.strerror(-fd)}): use tracepoints or raw tracepoints instead")


def _map_type(map_type: int, name: str) -> Feature:
    fd = _libbpf.map_create(map_type, 0, 0, 4096)
    if fd >= 0:
        os.close(fd)
        return Feature(YES)
    return Feature(NO, f"cannot create a {name} map ({os.strerror(-fd)})")


@_guarded
def ring_buffer() -> Feature:
    """MapType.RINGBUF (Linux 5.8)."""
    return _map_type(MapType.RINGBUF, "ring buffer")


@_guarded
def user_ring_buffer() -> Feature:
    """MapType.USER_RINGBUF (Linux 6.1): user space -> kernel records."""
    return _map_type(MapType.USER_RINGBUF, "user ring buffer")


@_guarded
def batch_map_ops() -> Feature:
    """BPF_MAP_LOOKUP_BATCH and friends on hash maps (Linux 5.6)."""
    fd = _libbpf.map_create(MapType.HASH, 4, 4, 4)
    if fd < 0:
        return Feature(PROBE_FAILED, f"cannot create a hash map ({os.strerror(-fd)})")
    try:
        from .runtime.maps import BpfMap, _NoBatch
        try:
            BpfMap.from_fd(fd)._lookup_batch(4, False)
        except _NoBatch:
            return Feature(NO, "the kernel has no batch map operations")
        return Feature(YES)
    finally:
        os.close(fd)


@_guarded
def bpf_stats() -> Feature:
    """Run-time statistics of BPF programs (run_cnt, run_time_ns; Linux 5.8)."""
    from .runtime.features import RunTimeStats
    with RunTimeStats():
        return Feature(YES)


@_guarded
def libbpf() -> Feature:
    """The libbpf loaded, and the newer calls it offers (the code keeps to 1.1's)."""
    from ._libbpf import lib
    major, minor = lib.version()
    offered = [name for name, symbol in (("tcx links", "bpf_program__attach_tcx"),
                                         ("uprobe-multi links",
                                          "bpf_program__attach_uprobe_multi"))
               if lib.offers(symbol)]
    return Feature(YES, f"libbpf {major}.{minor}" +
                   (f"; offers {', '.join(offered)}" if offered else ""))


PROBES = {"libbpf": libbpf, "kernel_btf": kernel_btf, "kprobes": kprobes,
          "trampolines": trampolines, "ring_buffer": ring_buffer,
          "user_ring_buffer": user_ring_buffer, "batch_map_ops": batch_map_ops,
          "bpf_stats": bpf_stats}


def summary() -> dict[str, Feature]:
    """Every probe's answer."""
    return {name: probe() for name, probe in PROBES.items()}


def main() -> int:
    for name, feature in summary().items():
        print(f"{name:<18} {feature}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
