"""EventReader: the records of a loaded package's ring buffers and perf event arrays, apart
from the loaded object (as cilium/ebpf keeps ringbuf.Reader apart from Collection).

It owns the sources, the one epoll set of a run, the background drainer with its
bounded queues, the loss counts, and the stop: finish() once the programs are detached,
then read() or rest() until nothing is left, then close().

    reader = prog.event_reader()
    reader.background()                 # copy out of the rings in a thread from now on
    for map_name, record in reader.records(timeout=0.1):
        ...
    prog.detach()
    reader.finish()
    for map_name, record in reader.rest():
        ...                             # what was sent before the detach
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..decode.record import row_builder
from ..errors import ArgumentError
from ..runtime.ringbuf import RecordBatch
from .drainer import DEFAULT_QUEUE_BYTES, BackgroundDrainer, EventPoller
from .sources import EventSource

# Records of a flat struct decoded at a time (then handed out one by one): enough to pay
# for the call, few enough that a consumer who stops early wastes little.
DECODE_RUN = 256


def _batch_decoder(codec, batch):
    """rows(start, count) -> the Records of `batch[start:start + count]` decoded in one
    unpack, for a RecordBatch of a flat struct (plain integers and char arrays); None for
    anything else (decoded record by record)."""
    layout = getattr(codec, "flat_layout", lambda: None)() \
        if type(batch) is RecordBatch else None
    if layout is None or batch.first + layout[0].size > batch.stride or \
            len(batch.blob) < batch.count * batch.stride:
        return None
    unpacker = batch.unpacker(layout[0])
    build = row_builder(layout[1], layout[2])
    blob, stride = memoryview(batch.blob), batch.stride

    def rows(start: int, count: int) -> list:
        return build(unpacker.iter_unpack(blob[start * stride:(start + count) * stride]))
    return rows


class EventReader:
    def __init__(self, sources: list[EventSource]):
        self.sources = sources
        self._poller: EventPoller | BackgroundDrainer = EventPoller(sources)
        self._held: list[list] = []     # [source, records, next index] read, not handed out
        self._callbacks: list[tuple[str | None, Callable]] = []
        self._closed = False

    # -- how records leave the rings ---------------------------------------------------

    def background(self, max_bytes: int = DEFAULT_QUEUE_BYTES) -> EventReader:
        """Copies records out of the kernel's rings in a thread of its own from now on, so
        that slow processing queues them in memory (up to `max_bytes` per event map;
        past that they are dropped and counted in `dropped()`) instead of letting the
        rings overflow. Does nothing if the thread runs already."""
        if not isinstance(self._poller, BackgroundDrainer):
            self._poller = BackgroundDrainer(self._poller, max_bytes)
        return self

    @property
    def queued_records(self) -> int:
        """Records copied out of the rings and not read yet (no lock: a signal handler
        may ask)."""
        poller = self._poller
        return poller.queued_records if isinstance(poller, BackgroundDrainer) else 0

    def wake(self) -> None:
        """Makes a waiting read() return now (from any thread or a signal handler)."""
        if isinstance(self._poller, BackgroundDrainer):
            self._poller.wake()

    def fileno(self) -> int:
        """Readable when records wait (for an event loop's add_reader)."""
        return self._poller.fileno()

    # -- reading ---------------------------------------------------------------------

    def source(self, map: str | None) -> EventSource | None:
        """The source of event map `map` (None: none asked); ArgumentError if no such map."""
        if map is None:
            return None
        for source in self.sources:
            if source.map_name == map:
                return source
        names = ", ".join(s.map_name for s in self.sources) or "none"
        raise ArgumentError(f"package has no event map '{map}' (its ring buffers and "
                            f"perf event arrays: {names})")

    def read(self, timeout: float, map: str | None = None) -> list[tuple[EventSource, list]]:
        """Raw records in batches per source (every source, or the one named `map`: the
        others keep theirs), waiting up to `timeout` s for the first."""
        only = self.source(map)
        if only is None:
            return self._poller.poll(timeout)
        if isinstance(self._poller, BackgroundDrainer):
            return self._poller.poll(timeout, only=only)
        records = only.reader.read(0)
        if not records and select.select([only.reader.fileno()], [], [], timeout)[0]:
            records = only.reader.read(0)
        return [(only, records)] if records else []

    def records(self, timeout: float, map: str | None = None) -> Iterator:
        """(map name, decoded record) of the batches read but not yet handed out (first),
        then of new ones read within `timeout`. Batches are held here, not in the
        generator, so a generator left half way (a consumer that stopped iterating) keeps
        nothing from the next reader: each record is handed out once, by whoever asks
        next."""
        return self._handed(timeout, map, named=True)

    def _handed(self, timeout: float, map: str | None, named: bool):
        """records(), or the records alone when not `named`; returns how many it handed
        out (the value of `yield from`)."""
        held = self._held
        if not any(map is None or entry[0].map_name == map for entry in held):
            held.extend([source, records, 0] for source, records in self.read(timeout, map))
        handed = 0
        for entry in list(held):
            source, records, begun = entry
            if map is not None and source.map_name != map:
                continue
            decode, name = source.codec.decode, source.map_name
            rows = _batch_decoder(source.codec, records)
            if rows is not None:        # a run decoded at once, then handed out one by one
                while entry[2] < records.count:
                    start = entry[2]
                    for record in rows(start, min(records.count - start, DECODE_RUN)):
                        entry[2] += 1
                        yield (name, record) if named else record
            elif isinstance(records, RecordBatch):     # decode in place: no slice each
                blob, first, stride = records.blob, records.first, records.stride
                while entry[2] < records.count:
                    index = entry[2]
                    entry[2] = index + 1
                    record = decode(blob, first + index * stride)
                    yield (name, record) if named else record
            else:
                while entry[2] < len(records):
                    index = entry[2]
                    entry[2] = index + 1
                    record = decode(records[index])
                    yield (name, record) if named else record
            handed += entry[2] - begun
            for position, other in enumerate(held):
                if other is entry:      # another reader may have finished it meanwhile
                    del held[position]
                    break
        return handed

    def follow(self, timeout: float | None = None, map: str | None = None) -> Iterator:
        """Decoded records (of `map` only, if given) as they arrive, copied out of the
        rings in the background meanwhile; stops after `timeout` s without any (never
        when None)."""
        self.source(map)
        self.background()
        step = 0.1 if timeout is None else min(timeout, 0.1)
        idle_since = time.monotonic()
        while True:
            if (yield from self._handed(step, map, named=False)):
                idle_since = time.monotonic()
            elif timeout is not None and time.monotonic() - idle_since >= timeout:
                return

    async def afollow(self, timeout: float | None = None, map: str | None = None):
        """follow() for asyncio: waits on the event loop (no thread of its own)."""
        import asyncio  # imported on use: it costs start-up time the CLI never needs
        self.source(map)
        loop = asyncio.get_running_loop()
        ready = asyncio.Event()
        fd = self.fileno()
        loop.add_reader(fd, ready.set)
        try:
            while True:
                ready.clear()
                got = False
                for _, record in self.records(0, map):
                    got = True
                    yield record
                if got:
                    continue
                try:
                    await asyncio.wait_for(ready.wait(), timeout)
                except asyncio.TimeoutError:
                    return
        finally:
            loop.remove_reader(fd)

    def on_event(self, callback: Callable[[Any], Any], map: str | None = None) -> None:
        """Hands each record call_back() is given (of `map` only, if given) to `callback`."""
        self.source(map)
        self._callbacks.append((map, callback))

    def call_back(self, records: Iterable) -> int:
        """Hands (map name, record) pairs to the on_event callbacks; returns how many."""
        count = 0
        for map_name, record in records:
            count += 1
            for wanted, callback in self._callbacks:
                if wanted is None or wanted == map_name:
                    callback(record)
        return count

    # -- stopping --------------------------------------------------------------------

    def finish(self) -> None:
        """Ends the background thread (call it once the programs are detached): reads
        then give what is queued, then what is left in the rings, until both are empty."""
        if isinstance(self._poller, BackgroundDrainer):
            self._poller.finish()

    def rest(self, map: str | None = None) -> Iterator:
        """(map name, decoded record) of everything left, without waiting (after
        finish())."""
        self.finish()
        while True:
            got = False
            for item in self.records(0, map):
                got = True
                yield item
            if not got:
                return

    def discard(self) -> int:
        """Throws away what is queued and left in the rings; returns how many records."""
        self.finish()
        count = sum(len(records) - index for _, records, index in self._held)
        self._held.clear()
        if isinstance(self._poller, BackgroundDrainer):
            return count + self._poller.discard()
        while batches := self._poller.poll(0):
            count += sum(len(records) for _, records in batches)
        return count

    def dropped(self, map: str) -> int:
        """Records of event map `map` dropped because the in-memory queue was full."""
        return self.source(map).dropped

    def close(self) -> None:
        """Ends the thread and closes the epoll set and every source's reader."""
        if self._closed:
            return
        self._closed = True
        try:
            self._poller.close()
        finally:
            for source in self.sources:
                source.close()
