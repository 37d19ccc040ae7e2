"""The library's side of stopping without loss: drain() and flush() give every record
sent before the detach; events(map=X) keeps the other maps' queue bounded and counted."""

from __future__ import annotations

import eunomia
from tests.stop.conftest import BURST, FIXTURES


def test_drain_gives_every_record_sent_before_the_detach(flood_package, producer):
    child = producer()
    with eunomia.Package.load(str(flood_package)).open(targ_tgid=child.pid) as prog:
        prog.attach()
        events = prog.events(timeout=30)        # the background drainer runs from here
        child.burst()
        seqs = [next(events).seq]               # the consumer reads one, then stops
        seqs += [record.seq for record in prog.drain()]
        assert seqs == list(range(BURST))
        assert prog.links == {}                 # drain() detached first
        assert prog.dropped("flood") == 0


def test_flush_hands_every_record_left_to_the_callbacks(flood_package, producer):
    child = producer()
    with eunomia.Package.load(str(flood_package)).open(targ_tgid=child.pid) as prog:
        seqs = []
        prog.on_event(lambda record: seqs.append(record.seq))
        prog.attach()
        child.burst()
        assert prog.flush() == BURST
        assert seqs == list(range(BURST))


def test_reading_one_map_keeps_the_others_bounded_and_counted(producer, tmp_path):
    count = 1_000_000   # 40 MB: more than the queue (1 MiB) and 90% of the ring (32 MiB)
    child = producer(count)
    package = eunomia.compile(FIXTURES / "twomaps.bpf.c", FIXTURES / "stopflood.h",
                              outdir=tmp_path)
    with package.open(targ_tgid=child.pid) as prog:
        prog.drain_in_background(max_bytes=1 << 20)
        prog.attach()
        child.burst()
        quiet = [record.seq for record in prog.events(timeout=2, map="quiet")]
        assert quiet == list(range(0, count, 1000))
        busy_left = sum(1 for _ in prog.drain(map="busy"))
        dropped = prog.dropped("busy")
        assert dropped > 0                        # past 1 MiB, counted, not kept
        # every record kept or counted: dropped by the queue, or refused by the kernel
        # when the drainer could not run for the last 10% of the ring (a loaded machine)
        refused = prog.maps[".bss"][0]["refused"]
        assert busy_left + dropped + refused == count
        assert busy_left * 40 <= (1 << 20) + (32 << 20)   # the queue, then the ring
