"""Typed maps: loaded BPF maps as Python containers, keys and values encoded from BTF.

    counts = prog.maps["counts"]          # the class fits the map type
    counts[42] = {"calls": 1, "comm": "bash"}
    for pid, value in counts.items():     # batch lookups where the kernel has them
        print(pid, value.calls, value.comm)

Integers come back as int, structs as eunomia.Record (a dict read by attribute too),
char[N] as str, other arrays as lists. Maps declared with sizes only (no BTF types) use
unsigned integers for 1/2/4/8-byte keys and values, bytes otherwise.
"""

from __future__ import annotations

from ..btf import BTF
from ..errors import MapError
from ..runtime.maps import BpfMap
from .base import ArrayMap, HashMap, PerCpuArrayMap, PerCpuHashMap, TypedMap
from .special import LpmKey, LpmTrieMap, ProgArrayMap, QueueMap, StackTraceMap
from .streams import EventMap, UserRingBuffer

# map type name (eunomia.kinds.map_type_name) -> class
MAP_CLASSES: dict[str, type[TypedMap]] = {
    "hash": HashMap, "lru_hash": HashMap, "array": ArrayMap,
    "percpu_hash": PerCpuHashMap, "lru_percpu_hash": PerCpuHashMap,
    "percpu_array": PerCpuArrayMap, "lpm_trie": LpmTrieMap,
    "queue": QueueMap, "stack": QueueMap, "prog_array": ProgArrayMap,
    "stack_trace": StackTraceMap, "ringbuf": EventMap, "perf_event_array": EventMap,
    "user_ringbuf": UserRingBuffer,
}


def typed_map(bpf_map: BpfMap, btf, **context) -> TypedMap:
    """The typed view of a runtime map. `context` gives what some types need: `programs`
    (prog_array), `events` (ring buffers), `record_type` (user ring buffers)."""
    cls = MAP_CLASSES.get(bpf_map.type_name, HashMap)
    return cls(bpf_map, btf, **context)


def open_pinned_map(path: str) -> TypedMap:
    """A map pinned in bpffs (by this or any other program), typed from the BTF the kernel
    keeps for it; close() releases it."""
    bpf_map = BpfMap.open_pinned(str(path))
    try:
        btf = None
        btf_id = bpf_map.info.get("btf_id", 0)
        if btf_id:
            from .. import _libbpf
            btf = BTF.parse(_libbpf.btf_raw_by_id(btf_id), base=_kernel_btf())
        result = typed_map(bpf_map, btf)
    except BaseException:
        bpf_map.close()
        raise
    result.close = bpf_map.close
    return result


def _kernel_btf():
    """Program BTF loaded into the kernel is split on vmlinux only for module types; ours
    is standalone, so no base is needed."""
    return


__all__ = ["MAP_CLASSES", "ArrayMap", "EventMap", "HashMap", "LpmKey", "LpmTrieMap",
           "MapError", "PerCpuArrayMap", "PerCpuHashMap", "ProgArrayMap", "QueueMap",
           "StackTraceMap", "TypedMap", "UserRingBuffer", "open_pinned_map", "typed_map"]
