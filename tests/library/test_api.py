"""The public API end to end: load, open with globals, attach, events three ways
(iterator, callbacks, asyncio) from a ring buffer and a perf buffer."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

import eunomia
from eunomia import ArgumentError
from tests.kernel.conftest import needs_btf, needs_root, wait_until

pytestmark = [needs_root, needs_btf]


def ping(times: int) -> None:
    for _ in range(times):
        os.getppid()


@pytest.fixture
def package(library_package):
    built = library_package("events")
    # load it back the way users do: from bytes (a path and a URL go the same way)
    return eunomia.Package.load(built.to_json().encode())


def test_public_names():
    for name in ("compile", "Package", "Record", "open_pinned_map", "log2_histogram",
                 "MapError", "VerifierError"):
        assert name in eunomia.__all__ and getattr(eunomia, name) is not None


def test_events_from_both_maps_read_as_mapping_and_attributes(package):
    with package.open(targ_tgid=os.getpid()) as prog:
        prog.attach()
        ping(3)
        got = {"pings": [], "perf_pings": []}
        for name, events in got.items():
            for ev in prog.events(timeout=10.0, map=name):
                events.append(ev)
                if len(events) == 3:
                    break
        for name, events in got.items():
            assert [ev.seq for ev in events] == [0, 1, 2], name
            assert all(ev["pid"] == os.getpid() == ev.pid for ev in events)
            assert events[0].comm == Path("/proc/self/comm").read_text().strip()[:15]


def test_callbacks_and_poll(package):
    with package.open(targ_tgid=os.getpid()) as prog:
        seen, ring_only = [], []
        prog.on_event(seen.append)

        @prog.on_event(map="pings")
        def ring(ev):
            ring_only.append(ev.seq)

        prog.attach("send_ping")
        ping(4)
        wait_until(lambda: prog.poll(0.2) >= 0 and len(seen) >= 8, what="8 callbacks")
        assert sorted(ring_only) == [0, 1, 2, 3]
        assert sorted(ev.seq for ev in seen) == [0, 0, 1, 1, 2, 2, 3, 3]


def test_asyncio_events(package):
    async def collect(prog):
        seqs = []
        async for ev in prog.aevents(timeout=5.0, map="pings"):
            seqs.append(ev.seq)
            if len(seqs) == 5:
                return seqs
        return seqs

    async def main(prog):
        task = asyncio.ensure_future(collect(prog))
        await asyncio.sleep(0)
        await asyncio.get_running_loop().run_in_executor(None, ping, 5)
        return await task

    with package.open(targ_tgid=os.getpid()) as prog:
        prog.attach()
        assert asyncio.run(main(prog)) == [0, 1, 2, 3, 4]


def test_clear_errors(package):
    with package.open(targ_tgid=os.getpid()) as prog:
        with pytest.raises(ArgumentError, match="no program 'nope'"):
            prog.attach("nope")
        with pytest.raises(ArgumentError, match="no event map 'nope'.*pings"):
            next(prog.events(timeout=0.1, map="nope"))
        with pytest.raises(KeyError):
            prog.maps["nope"]
    with pytest.raises(ArgumentError, match="no global variable 'nope'"):
        package.open(nope=1)
    with pytest.raises(ArgumentError, match="no program 'nope'"):
        package.open(autoload={"nope": False})


def test_autoload_leaves_a_program_out(package):
    with package.open(autoload={"send_ping": False}, targ_tgid=os.getpid()) as prog:
        assert prog.programs["send_ping"].fd < 0
        prog.attach()
        assert "send_ping" not in prog.links


def test_targets_chosen_at_run_time(library_package):
    with library_package("maps").open(targ_tgid=os.getpid()) as prog:
        program = prog.programs["exercise"]
        with pytest.raises(eunomia.AttachError, match="tracepoint 'sched/nope' does not"):
            program.attach_tracepoint("sched", "nope")
        if not eunomia.features.kprobes():
            with pytest.raises(eunomia.NotSupportedError, match="no kprobes"):
                program.attach_kprobe("vfs_read")
        link = program.attach_tracepoint("syscalls", "sys_enter_getppid")
        os.getppid()
        link.detach()
        assert prog.maps["results"][5] > 0          # the stack slot: the program ran
