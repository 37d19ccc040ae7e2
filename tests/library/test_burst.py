"""Bursts larger than the ring: with records copied out of the ring by a thread of its
own, a consumer that stalls loses nothing (the kernel side counts what it refuses)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BURST = 60_000          # records; the ring holds about 7,000


def producer(count: int) -> subprocess.Popen:
    code = (f"import os, sys; sys.stdin.readline(); "
            f"[os.getppid() for _ in range({count})]; sys.stdin.readline()")
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, text=True)


def test_a_stalled_consumer_loses_nothing(library_package):
    child = producer(BURST)
    try:
        with library_package("burst").open(targ_tgid=child.pid) as prog:
            prog.attach()
            seqs = []
            events = prog.events(timeout=5)
            # the drainer thread first (events() would start it at its first record):
            # the burst must not race the thread's start
            prog.drain_in_background()
            child.stdin.write("go\n")
            child.stdin.flush()
            seqs.append(next(events)["seq"])
            time.sleep(0.5)        # a stall: the burst (~8x the ring) arrives meanwhile
            for record in events:
                seqs.append(record.seq)
                if len(seqs) == BURST:
                    break
            assert prog.maps[".bss"][0]["refused"] == 0     # the ring never overflowed
            assert seqs == list(range(BURST))
    finally:
        child.kill()
        child.wait()


def test_batches_decode_like_single_records(library_package):
    """The same burst read through read_raw(): batches of uniform records, decoded by
    offset, give every field of every record."""
    from eunomia.runtime.ringbuf import RecordBatch
    child = producer(5_000)
    try:
        with library_package("burst").open(targ_tgid=child.pid) as prog:
            prog.attach()
            child.stdin.write("go\n")
            child.stdin.flush()
            records, kinds = [], set()
            deadline = time.monotonic() + 30
            while len(records) < 5_000 and time.monotonic() < deadline:
                for source, raws in prog.read_raw(0.5):
                    kinds.add(type(raws))
                    records.extend(source.codec.decode(raw) for raw in raws)
            assert RecordBatch in kinds
            assert [r.seq for r in records] == list(range(5_000))
            comm = Path(f"/proc/{child.pid}/comm").read_text().strip()
            assert {(r.pid, r.comm) for r in records} == {(child.pid, comm)}
    finally:
        child.kill()
        child.wait()


def test_perf_buffer_batches_format_like_single_records(library_package):
    """Per-CPU perf rings read as one batch of samples: decoded and formatted (JSON and
    table) exactly as record by record; nothing lost or repeated."""
    from eunomia.output.records import JsonFormatter, TableFormatter
    from eunomia.runtime.ringbuf import RecordBatch
    child = producer(3_000)
    try:
        with library_package("burst_perf", header="burst.h").open(targ_tgid=child.pid) as prog:
            prog.attach()
            child.stdin.write("go\n")
            child.stdin.flush()
            seqs, batches = [], 0
            deadline = time.monotonic() + 30
            while len(seqs) < 3_000 and time.monotonic() < deadline:
                for source, raws in prog.read_raw(0.5):
                    singles = list(raws)
                    if isinstance(raws, RecordBatch):
                        batches += 1
                        json_rows, table = JsonFormatter(source.codec), TableFormatter(
                            source.codec)
                        assert json_rows.rows(raws) == json_rows.rows(singles)
                        assert table.rows(raws, 0.0) == table.rows(singles, 0.0)
                    seqs.extend(source.codec.decode(raw).seq for raw in singles)
            assert batches > 0
            assert sorted(seqs) == list(range(3_000))
            assert prog.event_sources()[0].lost == 0
    finally:
        child.kill()
        child.wait()
