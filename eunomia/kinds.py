"""Kernel constants and eunomia's own kinds, each written once: map and program types,
attach types, the kernel BTF path, sample types.

Numbers are the kernel's (include/uapi/linux/bpf.h); a map's `type_name` is its
BPF_MAP_TYPE_* name in lower case ("ringbuf", "perf_event_array").
"""

from __future__ import annotations

import enum
import os

KERNEL_BTF = "/sys/kernel/btf/vmlinux"
# Where the running kernel's BTF is looked for at run time: KERNEL_BTF, unless
# $EUNOMIA_KERNEL_BTF says otherwise (a path that does not exist makes eunomia behave as
# on a kernel without BTF: the tests of `--btf` and tar packages use that).
KERNEL_BTF_ENV = "EUNOMIA_KERNEL_BTF"


def kernel_btf_path() -> str:
    return os.environ.get(KERNEL_BTF_ENV) or KERNEL_BTF
TRACE_PIPE = "/sys/kernel/tracing/trace_pipe"


class MapType(enum.IntEnum):
    """BPF_MAP_TYPE_*."""

    HASH = 1
    ARRAY = 2
    PROG_ARRAY = 3
    PERF_EVENT_ARRAY = 4
    PERCPU_HASH = 5
    PERCPU_ARRAY = 6
    STACK_TRACE = 7
    CGROUP_ARRAY = 8
    LRU_HASH = 9
    LRU_PERCPU_HASH = 10
    LPM_TRIE = 11
    ARRAY_OF_MAPS = 12
    HASH_OF_MAPS = 13
    DEVMAP = 14
    SOCKMAP = 15
    CPUMAP = 16
    XSKMAP = 17
    SOCKHASH = 18
    CGROUP_STORAGE = 19
    REUSEPORT_SOCKARRAY = 20
    PERCPU_CGROUP_STORAGE = 21
    QUEUE = 22
    STACK = 23
    SK_STORAGE = 24
    DEVMAP_HASH = 25
    STRUCT_OPS = 26
    RINGBUF = 27
    INODE_STORAGE = 28
    TASK_STORAGE = 29
    BLOOM_FILTER = 30
    USER_RINGBUF = 31
    CGRP_STORAGE = 32


def map_type_name(number: int) -> str:
    """"ringbuf" for 27; the number as text for a type newer than this table."""
    try:
        return MapType(number).name.lower()
    except ValueError:
        return str(number)


# Maps that carry records from the kernel to user space.
EVENT_MAP_TYPES = frozenset({MapType.PERF_EVENT_ARRAY, MapType.RINGBUF})
EVENT_MAP_TYPE_NAMES = tuple(t.name.lower() for t in sorted(EVENT_MAP_TYPES))
# Maps whose values come as one per possible CPU.
PERCPU_MAP_TYPES = frozenset({MapType.PERCPU_HASH, MapType.PERCPU_ARRAY,
                              MapType.LRU_PERCPU_HASH, MapType.PERCPU_CGROUP_STORAGE})


class ProgType(enum.IntEnum):
    """BPF_PROG_TYPE_* (the ones eunomia names itself; libbpf guesses the rest from the
    section name)."""

    SOCKET_FILTER = 1
    KPROBE = 2
    SCHED_CLS = 3
    TRACEPOINT = 5
    XDP = 6
    PERF_EVENT = 7
    RAW_TRACEPOINT = 17
    TRACING = 26
    LSM = 29


class AttachType(enum.IntEnum):
    """enum bpf_attach_type (the ones eunomia names itself)."""

    TRACE_FENTRY = 24
    TCX_INGRESS = 46        # Linux 6.6: tc programs as links (gone with their last fd)
    TCX_EGRESS = 47


class SampleType(str, enum.Enum):
    """How a sampled map is shown: the `type` of a map's `sample` meta."""

    LOG2_HIST = "log2_hist"
    LINEAR_HIST = "linear_hist"
    DEFAULT_KV = "default_kv"

    @property
    def is_histogram(self) -> bool:
        return self is not SampleType.DEFAULT_KV


SAMPLE_TYPES = tuple(t.value for t in SampleType)


class SessionState(str, enum.Enum):
    """Where a session (a server task, an exporter program) is in its life (the run
    core's; here so that clients of a server can name states without loading it)."""

    STARTING = "starting"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


def unicode_text(text: str) -> str:
    """`text`, or ValueError when it is not valid Unicode: JSON can carry a lone
    surrogate ("\\ud800"), and argv a byte that is not UTF-8 (as a surrogate escape), and
    neither can be a flag, a name or a log line. For models' validators."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"not valid Unicode (character {exc.start})") from None
    return text
