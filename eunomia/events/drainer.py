"""Raw records out of the kernel's rings: EventPoller waits on every source with one epoll
set; BackgroundDrainer does that in a thread of its own, into bounded queues."""

from __future__ import annotations

import os
import select
import threading
import time
from collections import deque

from ..defaults import DEFAULT_QUEUE_BYTES
from ..errors import EunomiaError
from ..runtime.ringbuf import RecordBatch
from .sources import EventSource

# With its queue full, a ring buffer is let fill to this fraction before records are
# dropped (counted) to keep it from refusing new ones.
RING_KEPT_WHEN_BEHIND = 0.9
# Records move from a ring to the queue, and from the queue to the consumer, in batches of
# about this many bytes: what the consumer holds while it works stays small and counted.
BATCH_BYTES = 1 << 20
# The longest the drainer lets a stream of records gather after a small batch: less than
# a human notices, enough to turn a wake-up per few records into one per thousand.
PAUSE_MAX = 0.001


class EventPoller:
    """Waits on every source at once and hands back raw records in batches."""

    def __init__(self, sources: list[EventSource]):
        self.sources = sources
        self._epoll = select.epoll()
        self._by_fd = {}
        for source in sources:
            fd = source.reader.fileno()
            self._by_fd[fd] = source
            self._epoll.register(fd, select.EPOLLIN)

    def poll(self, timeout: float) -> list[tuple[EventSource, list]]:
        """Raw records ready now, waiting up to `timeout` seconds for the first."""
        batches = []
        if not self.sources:
            return batches
        ready = self._epoll.poll(timeout)
        # Drain every source, not only the ready ones: a reader may hold records the
        # kernel did not wake us for (the ring buffer wakes at most once per batch).
        del ready
        for source in self.sources:
            records = source.reader.read(0)
            if records:
                batches.append((source, records))
        return batches

    def wait(self, timeout: float) -> None:
        """Waits up to `timeout` s for any source to signal records."""
        if self.sources:
            self._epoll.poll(timeout)

    def fileno(self) -> int:
        """The epoll fd: readable when any source has records (for asyncio add_reader)."""
        return self._epoll.fileno()

    def close(self) -> None:
        self._epoll.close()


def batch_bytes(records) -> int:
    """Bytes a batch of raw records holds in memory."""
    blob = getattr(records, "blob", None)
    return len(blob) if blob is not None else sum(len(r) for r in records)


def merged(batches: list) -> list:
    """`batches` ((source, records) in order) with each run of one source's RecordBatches
    of one layout joined into one batch: the drainer reads whatever arrived since its
    last look, often a few dozen records, and a consumer pays per batch (a call, a write)
    as well as per record."""
    out: list = []
    run: list = []

    def close_run():
        if len(run) == 1:
            out.append(run[0])
        elif run:
            first = run[0][1]
            out.append((run[0][0], RecordBatch(b"".join(r.blob for _, r in run),
                                               sum(r.count for _, r in run), first.size,
                                               first.stride, first.first)))
        run.clear()

    for source, records in batches:
        joinable = type(records) is RecordBatch and \
            len(records.blob) == records.count * records.stride
        if run and not (joinable and source is run[0][0]
                        and (records.size, records.stride, records.first)
                        == (run[0][1].size, run[0][1].stride, run[0][1].first)):
            close_run()
        if joinable:
            run.append((source, records))
        else:
            out.append((source, records))
    close_run()
    return out


class BackgroundDrainer:
    """EventPoller's job in a thread of its own: it copies records out of the kernel's
    rings as soon as they arrive, so a slow consumer (formatting, writing) makes a queue
    in memory instead of a full ring that drops records.

    The queue is bounded per event map (`max_bytes` each), so one busy map can neither
    exhaust memory nor starve the others. When a map's queue is full its ring keeps what
    arrives, up to 90% of its size (more buffer, no loss yet); past that the oldest records
    are read out and dropped, counted in the source's `dropped`, so the kernel never
    refuses records silently. A full perf buffer is left to the kernel, which counts its
    losses (`lost`).

    Same interface as EventPoller: poll(timeout), fileno() (readable when records wait)
    and close(). finish() ends the thread; poll() then reads the rings directly, so a
    caller that detached its programs can empty the queue and the rings to the end."""

    def __init__(self, poller: EventPoller, max_bytes: int = DEFAULT_QUEUE_BYTES):
        self.sources = poller.sources
        self._poller = poller
        self.max_bytes = max_bytes
        self._queue: deque = deque()
        self._bytes = {id(source): 0 for source in poller.sources}
        self._records = 0           # in the queue; read without the lock (signal handlers)
        self._lock = threading.Lock()
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self._stop = threading.Event()
        self._closed = False
        self._error: BaseException | None = None
        # every source a ring buffer (it has `fill`): their sizes; else none (no pauses)
        self._ring_sizes = [s.reader.size for s in self.sources] \
            if all(hasattr(s.reader, "fill") for s in self.sources) else []
        self._thread = threading.Thread(target=self._run, name="eunomia-drain", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            behind = False
            last = time.monotonic()
            while not self._stop.is_set():
                if behind:      # queues full: the rings signal records we leave there
                    self._stop.wait(0.002)
                else:
                    self._poller.wait(0.05)
                batches = []
                behind = False
                for source in self.sources:
                    records = self._drain(source)
                    if records:
                        batches.append((source, records))
                    elif records is None:
                        behind = True
                if batches:
                    self._enqueue(batches)
                now = time.monotonic()
                if batches and not behind:
                    pause = self._pause(sum(batch_bytes(r) for _, r in batches), now - last)
                    if pause:
                        self._stop.wait(pause)
                last = now
        except (EunomiaError, OSError) as exc:  # handed to the consumer by the next poll()
            self._error = exc
            self.wake()

    def _pause(self, drained: int, elapsed: float) -> float:
        """How long to let records gather before the next look. A ring buffer wakes its
        reader whenever it was empty, so a fast stream read promptly arrives a few dozen
        records per wake-up, each costing a pass here and in the consumer. After a small
        batch the thread waits a moment (at most PAUSE_MAX), but never long enough for
        the smallest ring to fill an eighth at the rate just seen. Perf buffers (their
        losses are the kernel's) are not paused."""
        if drained >= BATCH_BYTES // 16 or not self._ring_sizes:
            return 0.0
        rate = drained / max(elapsed, 1e-6)
        return min(PAUSE_MAX, min(self._ring_sizes) / 8 / rate)

    def _drain(self, source: EventSource):
        """What to queue of `source`: as much as its room in the queue allows. None when
        the queue is too full to take what waits: records then only leave a ring past
        90% full, and are dropped (counted)."""
        reader = source.reader
        room = self.max_bytes - self._bytes[id(source)]
        if room > 0:
            records = reader.read(0, limit=min(room, BATCH_BYTES))
            if records or getattr(reader, "fill", 0.0) == 0.0:
                return records
        fill = getattr(reader, "fill", None)
        if fill is not None and fill > RING_KEPT_WHEN_BEHIND:
            dropped = reader.read(0, limit=int((fill - RING_KEPT_WHEN_BEHIND) * reader.size))
            source.dropped += len(dropped)
        return None

    def wake(self) -> None:
        """Makes a waiting poll() return now (from any thread or a signal handler)."""
        try:
            os.write(self._wake_write, b"x")
        except BlockingIOError:
            pass        # the pipe is full of wake-ups already

    def _enqueue(self, batches) -> None:
        with self._lock:
            was_empty = not self._queue
            for source, records in batches:
                self._bytes[id(source)] += batch_bytes(records)
                self._records += len(records)
                self._queue.append((source, records))
        if was_empty and self._queue:
            self.wake()

    def _take(self, only: EventSource | None) -> list:
        if self._error is not None and not self._queue:
            error, self._error = self._error, None
            raise error
        with self._lock:
            if only is None:        # the oldest batches, about BATCH_BYTES of them
                taken, size = [], 0
                while self._queue and size < BATCH_BYTES:
                    taken.append(self._queue.popleft())
                    size += batch_bytes(taken[-1][1])
            else:
                taken = [b for b in self._queue if b[0] is only]
                self._queue = deque(b for b in self._queue if b[0] is not only)
            for source, records in taken:
                self._bytes[id(source)] -= batch_bytes(records)
                self._records -= len(records)
            if not self._queue:
                try:
                    os.read(self._wake_read, 4096)
                except BlockingIOError:
                    pass
        if len(taken) > 1:
            taken = merged(taken)
        if not taken and self._stop.is_set():
            # finished: the rings themselves are read now (nothing refills the queue)
            if only is None:
                taken = self._poller.poll(0)
            else:
                records = only.reader.read(0)
                taken = [(only, records)] if records else []
        return taken

    def poll(self, timeout: float, only: EventSource | None = None) -> list:
        """Batches drained so far (of `only`, if given), waiting up to `timeout` s."""
        taken = self._take(only)
        if taken or timeout <= 0 or self._stop.is_set():
            return taken
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return []
            ready = select.select([self._wake_read], [], [],
                                  left if only is None else min(left, 0.01))[0]
            taken = self._take(only)
            if taken or (ready and only is None):
                return taken        # records, or a wake() from the caller's side

    @property
    def queued_records(self) -> int:
        """Records waiting in the queue (takes no lock: safe in a signal handler)."""
        return self._records

    def finish(self) -> None:
        """Ends the thread. Call it once the programs are detached: poll() then gives
        what is queued, then what is left in the rings, until both are empty."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def discard(self) -> int:
        """Throws away what is queued and what is left in the rings (after finish());
        returns how many records that was."""
        self.finish()
        with self._lock:
            count = sum(len(records) for _, records in self._queue)
            self._queue.clear()
            self._bytes = dict.fromkeys(self._bytes, 0)
            self._records = 0
        while True:
            batches = self._poller.poll(0)
            if not batches:
                return count
            count += sum(len(records) for _, records in batches)

    def fileno(self) -> int:
        return self._wake_read

    def close(self) -> None:
        if self._closed:
            return          # closed already: the pipe's fds may belong to others now
        self._closed = True
        self.finish()
        self._poller.close()
        os.close(self._wake_read)
        os.close(self._wake_write)
