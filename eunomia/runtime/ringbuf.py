"""RingBufferReader: reads a BPF ring buffer straight from its mmap'd pages.

Layout (kernel/bpf/ringbuf.c): page 0 holds consumer_pos (ours to write); page 1 holds
producer_pos; the data area follows and is mapped twice in a row, so a record never
wraps. Each record starts with an 8-byte header: u32 len (BUSY bit 31: still being
written; DISCARD bit 30: skip it) and u32 page offset, then the payload, padded to 8.
"""

from __future__ import annotations

import mmap
import select
import struct

from ..errors import MapError

_BUSY, _DISCARD = 1 << 31, 1 << 30
_U32 = struct.Struct("<I")
_POS = struct.Struct("<Q")


class RingBufferReader:
    """Reads one BPF_MAP_TYPE_RINGBUF map: `read(timeout_ms)` returns the records
    written since the last call, as bytes; `fill_ratio` is the highest fill seen."""

    def __init__(self, bpf_map):
        self.map_name = bpf_map.name
        self._fd = bpf_map.fd
        self._size = bpf_map.max_entries
        self._mask = self._size - 1
        self.lost = 0                 # the kernel does not count drops of ring buffers
        page = mmap.PAGESIZE
        try:
            self._consumer = mmap.mmap(self._fd, page, mmap.MAP_SHARED,
                                       mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
        except OSError as exc:
            raise MapError(f"mmap ring buffer '{self.map_name}'", errno=exc.errno) from None
        try:
            self._producer = mmap.mmap(self._fd, page + 2 * self._size, mmap.MAP_SHARED,
                                       mmap.PROT_READ, offset=page)
        except OSError as exc:
            self._consumer.close()
            raise MapError(f"mmap ring buffer '{self.map_name}'", errno=exc.errno) from None
        self._data = memoryview(self._producer)[page:]
        self._epoll = select.epoll()
        self._epoll.register(self._fd, select.EPOLLIN)
        self.fill_ratio = 0.0

    def fileno(self) -> int:
        """An epoll fd that becomes readable when the ring has data."""
        return self._epoll.fileno()

    @property
    def consumer_pos(self) -> int:
        """How many bytes (headers and padding included) were consumed so far."""
        return _POS.unpack_from(self._consumer, 0)[0]

    @property
    def producer_pos(self) -> int:
        return _POS.unpack_from(self._producer, 0)[0]

    def drain(self) -> list[bytes]:
        """Every complete record now in the ring, in order; frees their space."""
        consumer = _POS.unpack_from(self._consumer, 0)[0]
        producer = _POS.unpack_from(self._producer, 0)[0]
        if producer - consumer:
            self.fill_ratio = max(self.fill_ratio, (producer - consumer) / self._size)
        data, mask = self._data, self._mask
        begin = consumer
        spans = []          # (offset from begin, size) of each complete record
        while consumer < producer:
            length = _U32.unpack_from(data, consumer & mask)[0]
            if length & _BUSY:
                break
            size = length & ~(_BUSY | _DISCARD)
            if not length & _DISCARD:
                spans.append((consumer - begin + 8, size))
            consumer += (size + 8 + 7) & ~7
        if not spans:
            if consumer != begin:
                _POS.pack_into(self._consumer, 0, consumer)
            return []
        # One copy of the whole stretch (contiguous: the data area is mapped twice), then
        # cheap slices of it, before the space is handed back to the kernel.
        start = begin & mask
        blob = bytes(data[start:start + (consumer - begin)])
        _POS.pack_into(self._consumer, 0, consumer)
        return [blob[offset:offset + size] for offset, size in spans]

    def read(self, timeout_ms: int = 0) -> list[bytes]:
        records = self.drain()
        if records or timeout_ms == 0:
            return records
        self._epoll.poll(timeout_ms / 1000.0 if timeout_ms > 0 else -1)
        return self.drain()

    def close(self) -> None:
        if self._epoll is not None:
            self._epoll.close()
            self._epoll = None
            self._data.release()
            self._producer.close()
            self._consumer.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
