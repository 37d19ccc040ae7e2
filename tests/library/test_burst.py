"""Bursts larger than the ring: with records copied out of the ring by a thread of its
own, a consumer that stalls loses nothing (the kernel side counts what it refuses)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.kernel.conftest import wait_until

BURST = 60_000          # records; the ring holds about 7,000
CHUNK = 5_000           # what the producer sends at a time: less than the ring holds


def producer(count: int, chunks: int = 1) -> subprocess.Popen:
    """A process that makes `count` getppid() calls for each line it reads, `chunks`
    times, then waits for one more line."""
    code = (f"import os, sys\nfor _ in range({chunks}):\n    sys.stdin.readline()\n"
            f"    [os.getppid() for _ in range({count})]\nsys.stdin.readline()")
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, text=True)


def test_a_stalled_consumer_loses_nothing(library_package):
    """The consumer reads nothing while eight rings' worth of records arrive: the
    drainer thread queues them in memory, so the ring never refuses one. The producer
    sends less than a ring at a time and waits for the drainer to have it, so this holds
    however slow the machine is (it states the guarantee: a stalled consumer costs
    nothing as long as the drainer keeps up with the ring, not with any producer)."""
    child = producer(CHUNK, chunks=BURST // CHUNK)
    try:
        with library_package("burst").open(targ_tgid=child.pid) as prog:
            prog.attach()
            prog.drain_in_background()
            for sent in range(CHUNK, BURST + 1, CHUNK):
                child.stdin.write("go\n")
                child.stdin.flush()
                wait_until(lambda sent=sent: prog.queued_records() >= sent, 60,
                           what=f"the drainer to queue {sent} records")
            assert prog.queued_records() == BURST       # all of it, and nothing read yet
            seqs = []
            for record in prog.events(timeout=5):
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
    from eunomia.events.reader import _batch_decoder
    from eunomia.output.records import JsonFormatter
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
                    singles = [source.codec.decode(raw) for raw in raws]
                    if isinstance(raws, RecordBatch):
                        # events() decodes a batch's runs in one unpack: the same records
                        in_runs = _batch_decoder(source.codec, raws)(0, len(raws))
                        assert in_runs == singles
                        assert all(type(r) is type(singles[0]) for r in in_runs)
                        # JSON lines straight from the bytes: the decoded values
                        lines = JsonFormatter(source.codec).rows(raws)
                        assert [json.loads(line) for line in lines] == singles
                    records.extend(singles)
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
