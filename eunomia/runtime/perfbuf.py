"""PerfBufferReader: a perf event array read from per-CPU mmap'd rings.

Each CPU gets a PERF_COUNT_SW_BPF_OUTPUT event whose fd goes into the map at the CPU's
index; bpf_perf_event_output() writes PERF_RECORD_SAMPLE records (u32 size, then the raw
bytes padded to 8) and the kernel writes PERF_RECORD_LOST when the ring was full.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import select
import struct

from .. import _libbpf
from ..errors import MapError
from .cpus import online_cpus
from .perf_events import PERF_EVENT_IOC_ENABLE, bpf_output_attr
from .ringbuf import word64

PERF_RECORD_LOST, PERF_RECORD_SAMPLE = 2, 9
_HEADER = struct.Struct("<IHH")
_U64 = struct.Struct("<Q")
_DATA_HEAD, _DATA_TAIL, _DATA_OFFSET, _DATA_SIZE = 1024, 1032, 1040, 1048


class _CpuRing:
    def __init__(self, cpu: int, page_count: int):
        self.cpu = cpu
        self.fd = _libbpf.perf_event_open(bpf_output_attr(), -1, cpu)
        try:
            page = mmap.PAGESIZE
            self.mem = mmap.mmap(self.fd, page * (1 + page_count), mmap.MAP_SHARED,
                                 mmap.PROT_READ | mmap.PROT_WRITE)
            self.offset = _U64.unpack_from(self.mem, _DATA_OFFSET)[0] or page
            self.size = _U64.unpack_from(self.mem, _DATA_SIZE)[0] or page * page_count
            self._head = word64(self.mem, _DATA_HEAD)     # whole 8-byte accesses: the
            self._tail = word64(self.mem, _DATA_TAIL)     # kernel uses these concurrently
            fcntl.ioctl(self.fd, PERF_EVENT_IOC_ENABLE, 0)
        except BaseException:
            os.close(self.fd)
            raise

    def drain(self, out: list[bytes]) -> int:
        """Appends every sample to `out`; returns the number of lost records reported."""
        size = self.size
        head = self._head[0]
        tail = self._tail[0]
        lost = 0
        while tail < head:
            start = tail % size
            header = self._bytes(start, 8)
            kind, _, length = _HEADER.unpack(header)
            body = self._bytes((start + 8) % size, length - 8)
            if kind == PERF_RECORD_SAMPLE:
                raw_size = struct.unpack_from("<I", body)[0]
                out.append(body[4:4 + raw_size])
            elif kind == PERF_RECORD_LOST:
                lost += _U64.unpack_from(body, 8)[0]
            tail += length
        self._tail[0] = tail
        return lost

    def _bytes(self, start: int, length: int) -> bytes:
        base, size = self.offset, self.size
        end = start + length
        if end <= size:
            return self.mem[base + start:base + end]
        return self.mem[base + start:base + size] + self.mem[base:base + end - size]

    def close(self) -> None:
        self._head.release()
        self._tail.release()
        self.mem.close()
        os.close(self.fd)


class PerfBufferReader:
    def __init__(self, bpf_map, page_count: int = 64):
        if page_count & (page_count - 1):
            raise MapError(f"perf buffer of '{bpf_map.name}': page count {page_count} is not "
                           "a power of two")
        self.map_name = bpf_map.name
        self.lost = 0
        self.fill_ratio = 0.0
        self._rings: list[_CpuRing] = []
        self._epoll = select.epoll()
        try:
            for cpu in online_cpus():
                if cpu >= bpf_map.max_entries:
                    continue
                try:
                    ring = _CpuRing(cpu, page_count)
                except OSError as exc:
                    raise MapError(f"open the perf buffer of '{self.map_name}' on CPU {cpu}",
                                   errno=exc.errno) from None
                self._rings.append(ring)
                bpf_map.update(struct.pack("<I", cpu), struct.pack("<I", ring.fd))
                self._epoll.register(ring.fd, select.EPOLLIN)
        except BaseException:
            self.close()
            raise

    def fileno(self) -> int:
        return self._epoll.fileno()

    def drain(self) -> list[bytes]:
        records: list[bytes] = []
        for ring in self._rings:
            self.lost += ring.drain(records)
        return records

    def read(self, timeout_ms: int = 0) -> list[bytes]:
        records = self.drain()
        if records or timeout_ms == 0:
            return records
        self._epoll.poll(timeout_ms / 1000.0 if timeout_ms > 0 else -1)
        return self.drain()

    def close(self) -> None:
        for ring in self._rings:
            ring.close()
        self._rings = []
        if self._epoll is not None:
            self._epoll.close()
            self._epoll = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
