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
from collections.abc import Sequence

from .. import _libbpf
from ..defaults import PERF_BUFFER_PAGES
from ..errors import MapError
from .cpus import online_cpus
from .perf_events import PERF_EVENT_IOC_ENABLE, bpf_output_attr
from .ringbuf import RecordBatch, word64

PERF_RECORD_LOST, PERF_RECORD_SAMPLE = 2, 9
_HEADER = struct.Struct("<IHH")
_U32 = struct.Struct("<I")
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

    def take(self) -> bytes:
        """Every byte written since the last call, copied out of the ring in one or two
        slices (it wraps), and the space handed back to the kernel."""
        head, tail = self._head[0], self._tail[0]
        if head == tail:
            return b""
        blob = self._bytes(tail % self.size, head - tail)
        self._tail[0] = head
        return blob

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


def _parse(blob: bytes, out: list[bytes]) -> int:
    """Appends the samples in `blob` to `out`; returns the records the kernel reports
    lost."""
    lost, offset, end = 0, 0, len(blob)
    while offset + 8 <= end:
        kind, _, length = _HEADER.unpack_from(blob, offset)
        if length < 8:
            break               # malformed: stop rather than loop
        if kind == PERF_RECORD_SAMPLE:
            raw_size = _U32.unpack_from(blob, offset + 8)[0]
            out.append(blob[offset + 12:offset + 12 + raw_size])
        elif kind == PERF_RECORD_LOST:
            lost += _U64.unpack_from(blob, offset + 16)[0]
        offset += length
    return lost


class PerfBufferReader:
    def __init__(self, bpf_map, page_count: int = PERF_BUFFER_PAGES):
        if page_count & (page_count - 1):
            raise MapError(f"perf buffer of '{bpf_map.name}': page count {page_count} is not "
                           "a power of two")
        self.map_name = bpf_map.name
        self.lost = 0
        self.fill_ratio = 0.0
        self.record_size = 0          # set to the record struct's size for batch reads
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

    def drain(self) -> Sequence[bytes]:
        """Every sample of every CPU: one RecordBatch when they are all samples of
        `record_size` bytes (the usual case: one struct type), else a list of bytes."""
        blobs = [blob for blob in (ring.take() for ring in self._rings) if blob]
        if not blobs:
            return []
        if self.record_size:
            batch = self._uniform(blobs)
            if batch is not None:
                return batch
        records: list[bytes] = []
        for blob in blobs:
            self.lost += _parse(blob, records)
        return records

    def _uniform(self, blobs: list[bytes]) -> RecordBatch | None:
        """The samples as one batch, when every record is a sample of the same stride
        (checked in strided passes over the headers, no Python loop per record)."""
        stride = (8 + 4 + self.record_size + 7) & ~7     # header, u32 size, data, padding
        blob = blobs[0] if len(blobs) == 1 else b"".join(blobs)
        if len(blob) % stride:
            return None
        words = memoryview(blob).cast("I")
        count = len(blob) // stride
        step = stride // 4
        kinds = words[0::step].tolist()
        sizes = words[1::step].tolist()     # u16 misc, u16 size: size is the high half
        if kinds.count(PERF_RECORD_SAMPLE) != count or \
                {size >> 16 for size in sizes} != {stride}:
            return None
        return RecordBatch(blob, count, self.record_size, stride, first=12)

    def read(self, timeout_ms: int = 0, limit: int | None = None) -> Sequence[bytes]:
        """Every sample since the last read (`limit` is ignored: the per-CPU rings are
        small, and the kernel counts what it cannot write in `lost`)."""
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
