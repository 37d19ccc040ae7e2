"""How the drainer hands batches on: runs of one source's uniform batches joined into one
(in order, nothing lost or repeated), and how long it lets a stream gather. Plain bytes
and stand-in sources: the kernel side of the same path is tests/library/test_burst.py."""

from __future__ import annotations

import struct

from eunomia.events.drainer import BATCH_BYTES, PAUSE_MAX, BackgroundDrainer, merged
from eunomia.runtime.ringbuf import RecordBatch

RECORD = struct.Struct("<QI4x")          # 16 bytes; 24 apart with the ring's header


class Source:
    def __init__(self, name: str):
        self.map_name = name


def batch(first_seq: int, count: int, size: int = RECORD.size) -> RecordBatch:
    stride = (size + 8 + 7) & ~7
    blob = b"".join(struct.pack("<II", size, 0) + RECORD.pack(first_seq + i, 7).ljust(
        stride - 8, b"\0") for i in range(count))
    return RecordBatch(blob, count, size, stride)


def seqs(records) -> list[int]:
    return [RECORD.unpack_from(raw)[0] for raw in records]


def test_a_run_of_one_sources_batches_becomes_one_batch_in_order():
    a = Source("a")
    out = merged([(a, batch(0, 3)), (a, batch(3, 2)), (a, batch(5, 4))])
    assert len(out) == 1
    source, records = out[0]
    assert source is a and isinstance(records, RecordBatch)
    assert len(records) == 9 and seqs(records) == list(range(9))


def test_sources_and_layouts_are_kept_apart_and_order_is_kept():
    a, b = Source("a"), Source("b")
    singles = [RECORD.pack(100, 1), RECORD.pack(101, 1)]        # a list: not joinable
    out = merged([(a, batch(0, 2)), (a, batch(2, 2)), (b, batch(50, 1)), (a, batch(4, 1)),
                  (a, singles), (a, batch(5, 1)), (a, batch(6, 1, size=20))])
    assert [(source.map_name, seqs(records)) for source, records in out] == [
        ("a", [0, 1, 2, 3]), ("b", [50]), ("a", [4]), ("a", [100, 101]), ("a", [5]),
        ("a", [6])]
    assert [type(records) for _, records in out] == [RecordBatch, RecordBatch, RecordBatch,
                                                     list, RecordBatch, RecordBatch]


def test_a_view_of_part_of_a_batch_joins_too():
    a = Source("a")
    pieces = list(batch(0, 10).pieces(4))          # memoryviews of one blob
    out = merged([(a, piece) for piece in pieces])
    assert len(out) == 1 and seqs(out[0][1]) == list(range(10))


class RingReader:
    fill = 0.0

    def __init__(self, size: int):
        self.size = size


def drainer_pause(ring_sizes, drained: int, elapsed: float) -> float:
    """BackgroundDrainer._pause without its thread: only the sizes matter."""
    drainer = BackgroundDrainer.__new__(BackgroundDrainer)
    drainer._ring_sizes = ring_sizes
    return drainer._pause(drained, elapsed)


def test_a_trickle_gathers_for_at_most_a_millisecond():
    # 2 KiB in 2 ms: a slow stream, a 16 MiB ring: the longest pause
    assert drainer_pause([16 << 20], 2048, 0.002) == PAUSE_MAX


def test_a_fast_stream_into_a_small_ring_waits_less_than_an_eighth_of_it():
    # 4 KiB in 40 us is 100 MB/s: a 256 KiB ring fills an eighth in 0.33 ms
    pause = drainer_pause([256 << 10], 4096, 40e-6)
    assert 0 < pause < PAUSE_MAX
    assert abs(pause - (256 << 10) / 8 / (4096 / 40e-6)) < 1e-9


def test_no_pause_after_a_large_batch_or_with_perf_buffers():
    assert drainer_pause([16 << 20], BATCH_BYTES, 0.01) == 0.0
    assert drainer_pause([], 100, 0.01) == 0.0          # a perf buffer among the sources
