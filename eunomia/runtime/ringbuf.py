"""RingBufferReader: reads a BPF ring buffer straight from its mmap'd pages.

Layout (kernel/bpf/ringbuf.c): page 0 holds consumer_pos (ours to write); page 1 holds
producer_pos; the data area follows. The kernel offers the data area mapped twice in a
row, so that no record wraps; the kernel fills such a mapping at mmap time, so it would
count twice the ring's size in our RSS. We map it once and copy the one record that may
straddle the end in two pieces. Each record starts with an 8-byte header: u32 len (BUSY
bit 31: still being written; DISCARD bit 30: skip it) and u32 page offset, then the
payload, padded to 8 (so a header never straddles the end).
"""

from __future__ import annotations

import functools
import mmap
import select
import struct
from collections.abc import Iterator, Sequence

from ..errors import MapError

_BUSY, _DISCARD = 1 << 31, 1 << 30


def word64(buffer, offset: int = 0) -> memoryview:
    """The aligned u64 at `offset` of a shared mapping, read and written whole.

    The kernel reads and writes these positions concurrently with one 8-byte access;
    struct's "<Q" goes byte by byte, so the kernel could see a torn position (and, in
    the ring buffer, refuse records as if the ring were full). A native "Q" memoryview
    item is one 8-byte load or store."""
    return memoryview(buffer)[offset:offset + 8].cast("Q")


class RecordBatch(Sequence):
    """`count` records of `size` bytes each, `stride` bytes apart in `blob` (bytes, or a
    view of a larger batch's), the first at byte `first` (the ring's 8-byte headers sit
    between them). One copy out of the ring
    and no per-record slicing: output layers unpack `blob` in one pass (iter_unpack);
    anyone else gets each record as bytes."""

    __slots__ = ("blob", "count", "first", "size", "stride")

    def __init__(self, blob: bytes, count: int, size: int, stride: int, first: int = 8):
        self.blob, self.count, self.size, self.stride, self.first = (blob, count, size,
                                                                     stride, first)

    def __len__(self) -> int:
        return self.count

    def pieces(self, most: int) -> Iterator[RecordBatch]:
        """This batch as batches of at most `most` records, sharing its bytes (views,
        no copies)."""
        if self.count <= most:
            yield self
            return
        view = memoryview(self.blob)
        for start in range(0, self.count, most):
            count = min(most, self.count - start)
            yield RecordBatch(view[start * self.stride:(start + count) * self.stride], count,
                              self.size, self.stride, self.first)

    def unpacker(self, layout: struct.Struct) -> struct.Struct:
        """`layout` (one record's struct) read from each of this batch's slots, the
        headers and padding between records skipped: one iter_unpack over `blob`."""
        return _slot_struct(layout, self.first, self.stride)

    def offsets(self) -> range:
        return range(self.first, self.first + self.count * self.stride, self.stride)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.count))]
        if index < 0:
            index += self.count
        if not 0 <= index < self.count:
            raise IndexError("record index out of range")
        start = self.first + index * self.stride
        return bytes(self.blob[start:start + self.size])

    def __iter__(self) -> Iterator[bytes]:
        blob, size = self.blob, self.size
        for start in self.offsets():
            yield bytes(blob[start:start + size])


@functools.lru_cache(maxsize=256)
def _slot_struct(layout: struct.Struct, first: int, stride: int) -> struct.Struct:
    fmt = layout.format
    return struct.Struct(f"{fmt[0]}{first}x{fmt[1:]}{stride - first - layout.size}x")


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
            self._producer = mmap.mmap(self._fd, page + self._size, mmap.MAP_SHARED,
                                       mmap.PROT_READ, offset=page)
        except OSError as exc:
            self._consumer.close()
            raise MapError(f"mmap ring buffer '{self.map_name}'", errno=exc.errno) from None
        self._data = memoryview(self._producer)[page:]
        self._consumer_pos = word64(self._consumer)
        self._producer_pos = word64(self._producer)
        self._headers = self._data.cast("I")     # record headers, read whole
        self._epoll = select.epoll()
        self._epoll.register(self._fd, select.EPOLLIN)
        self.fill_ratio = 0.0
        self.record_size = 0          # set to the record struct's size for batch reads

    def _drain_uniform(self, consumer: int, producer: int, limit: int) -> RecordBatch | None:
        """The leading run of complete records of exactly `record_size` bytes, checked
        from their headers in one strided pass (no Python loop per record); None when
        the first record is not one (busy, discarded, or of another size)."""
        size = self.record_size
        stride = (size + 8 + 7) & ~7
        start = consumer & self._mask
        count = min(producer - consumer, limit) // stride
        if count == 0:
            return None
        # The headers first, from the live ring (each a whole 4-byte load), and only then
        # the data of the records they show committed: a copy made before the check
        # could hold a record's data from before its header said it was done.
        heads = self._header_words(start, stride, count)
        if heads.count(size) != count:
            count = next(i for i, head in enumerate(heads) if head != size)
            if count == 0:
                return None
        blob = self._copy(start, count * stride)
        self._consumer_pos[0] = consumer + count * stride
        return RecordBatch(blob, count, size, stride)

    def _header_words(self, start: int, stride: int, count: int) -> list[int]:
        """The first words of `count` records `stride` bytes apart from `start`: one
        strided read up to the ring's end, one after it."""
        words = stride // 4
        before_end = min(count, (self._size - start + stride - 1) // stride)
        first = start >> 2
        heads = self._headers[first:first + before_end * words:words].tolist()
        if count > before_end:
            again = (start + before_end * stride - self._size) >> 2
            heads += self._headers[again:again + (count - before_end) * words:words].tolist()
        return heads

    def _copy(self, start: int, length: int) -> bytes:
        """`length` bytes of the data area from `start`, in two pieces past its end."""
        end = start + length
        if end <= self._size:
            return bytes(self._data[start:end])
        return bytes(self._data[start:]) + bytes(self._data[:end - self._size])

    def fileno(self) -> int:
        """An epoll fd that becomes readable when the ring has data."""
        return self._epoll.fileno()

    @property
    def consumer_pos(self) -> int:
        """How many bytes (headers and padding included) were consumed so far."""
        return self._consumer_pos[0]

    @property
    def producer_pos(self) -> int:
        return self._producer_pos[0]

    @property
    def fill(self) -> float:
        """How full the ring is now (0.0 to 1.0)."""
        return (self._producer_pos[0] - self._consumer_pos[0]) / self._size

    @property
    def size(self) -> int:
        return self._size

    def drain(self, limit: int | None = None) -> Sequence[bytes]:
        """Every complete record now in the ring (or the oldest, up to `limit` bytes of
        ring space, headers included), in order (a RecordBatch when they are all of
        `record_size`); frees their space."""
        consumer = self._consumer_pos[0]
        producer = self._producer_pos[0]
        limit = self._size if limit is None else limit
        if producer - consumer:
            self.fill_ratio = max(self.fill_ratio, (producer - consumer) / self._size)
            if self.record_size:
                batch = self._drain_uniform(consumer, producer, limit)
                if batch is not None:
                    return batch
        headers, mask = self._headers, self._mask
        begin = consumer
        spans = []          # (offset from begin, size) of each complete record
        while consumer < producer:
            length = headers[(consumer & mask) >> 2]
            if length & _BUSY:
                break
            size = length & ~(_BUSY | _DISCARD)
            step = (size + 8 + 7) & ~7
            if consumer + step - begin > limit:
                break
            if not length & _DISCARD:
                spans.append((consumer - begin + 8, size))
            consumer += step
        if not spans:
            if consumer != begin:
                self._consumer_pos[0] = consumer
            return []
        # One copy of the whole stretch (in two pieces when it ends past the ring's
        # end), then cheap slices of it, before the space is handed back to the kernel.
        blob = self._copy(begin & mask, consumer - begin)
        self._consumer_pos[0] = consumer
        return [blob[offset:offset + size] for offset, size in spans]

    def read(self, timeout_ms: int = 0, limit: int | None = None) -> Sequence[bytes]:
        records = self.drain(limit)
        if records or timeout_ms == 0:
            return records
        self._epoll.poll(timeout_ms / 1000.0 if timeout_ms > 0 else -1)
        return self.drain(limit)

    def close(self) -> None:
        if self._epoll is not None:
            self._epoll.close()
            self._epoll = None
            for view in (self._headers, self._consumer_pos, self._producer_pos, self._data):
                view.release()
            self._producer.close()
            self._consumer.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
