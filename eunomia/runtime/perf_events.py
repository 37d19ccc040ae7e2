"""perf_event_attr for the two uses here: BPF output rings and sampling programs."""

from __future__ import annotations

import struct

PERF_TYPE_SOFTWARE = 1
PERF_COUNT_SW_CPU_CLOCK = 0
PERF_COUNT_SW_BPF_OUTPUT = 10
PERF_SAMPLE_RAW = 1 << 10
PERF_ATTR_SIZE = 128          # PERF_ATTR_SIZE_VER7
_FLAG_DISABLED, _FLAG_FREQ = 1 << 0, 1 << 10
PERF_EVENT_IOC_ENABLE = 0x2400
PERF_EVENT_IOC_DISABLE = 0x2401


def attr(type_: int, config: int, sample_period: int = 0, sample_type: int = 0,
         flags: int = 0, wakeup_events: int = 0) -> bytes:
    """struct perf_event_attr: type, size, config, sample_period/freq, sample_type,
    read_format, the flag bits, wakeup_events; the rest zero."""
    head = struct.pack("=IIQQQQQI", type_, PERF_ATTR_SIZE, config, sample_period,
                       sample_type, 0, flags, wakeup_events)
    return head.ljust(PERF_ATTR_SIZE, b"\0")


def bpf_output_attr() -> bytes:
    return attr(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_BPF_OUTPUT, sample_period=1,
                sample_type=PERF_SAMPLE_RAW, wakeup_events=1)


def cpu_clock_attr(sample_freq: int) -> bytes:
    return attr(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK, sample_period=sample_freq,
                flags=_FLAG_FREQ)
