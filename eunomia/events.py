"""Event sources: every ring buffer and perf event array of a program, with its record type.

Which struct a map carries is decided at compile time (the map's `export_config`), else
a single export type serves all maps; a package that leaves it ambiguous is refused here
rather than decoded with the wrong layout.
"""

from __future__ import annotations

import os
import select
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .btf import Struct, Union
from .decode import compile_codec
from .errors import EunomiaError, PackageError
from .runtime import PerfBufferReader, RingBufferReader

OUTPUT_MAP_TYPES = ("ringbuf", "perf_event_array")
# A ring buffer this full between two reads is about to drop records in the kernel.
NEARLY_FULL = 0.9


def export_type_name(map_meta) -> str | None:
    """The struct a map's meta says it carries (`/// @export name` in the source)."""
    config = getattr(map_meta, "export_config", None) if map_meta is not None else None
    if isinstance(config, str):
        return config or None
    if isinstance(config, dict):
        return config.get("type") or config.get("struct") or None
    return None


def record_type_id(package, btf, map_name: str) -> tuple[int, str]:
    """The BTF type id and name of the record `map_name` carries."""
    maps = {m.name: m for m in package.meta.bpf_skel.maps or []}
    exports = package.meta.export_types or []
    config = getattr(maps.get(map_name), "export_config", None)
    if isinstance(config, dict) and "btf_type_id" in config and "type" not in config:
        # eunomia-bpf's own packages name the record by its BTF type id only
        type_id = int(config["btf_type_id"])
        _, t = btf.resolve(type_id)
        if isinstance(t, (Struct, Union)):
            return type_id, t.name
        raise PackageError(f"map '{map_name}': export_config.btf_type_id {type_id} is not "
                           "a struct or union")
    wanted = export_type_name(maps.get(map_name))
    if wanted is None:
        if len(exports) == 1:
            wanted = exports[0].name
        elif not exports:
            raise PackageError(f"map '{map_name}' sends events but the package has no export "
                               "types: give ecc the header that defines the event struct")
        else:
            names = ", ".join(e.name for e in exports)
            raise PackageError(f"map '{map_name}' sends events but the package does not say "
                               f"which of its structs ({names}) it carries: add "
                               "'/// @export <struct>' above the map and recompile")
    for export in exports:
        if export.name == wanted and 0 < export.type_id < len(btf.types):
            t = btf[export.type_id]
            if isinstance(t, (Struct, Union)) and t.name == wanted:
                return export.type_id, wanted
    type_id, _ = btf.find(wanted, kind=Struct)
    return type_id, wanted


@dataclass
class EventSource:
    """One output map: its reader and the codec of the records it carries."""

    map_name: str
    type_name: str
    codec: Any
    reader: Any
    lost_reported: int = 0
    warned_full: bool = field(default=False)

    @property
    def lost(self) -> int:
        return getattr(self.reader, "lost", 0)

    def close(self) -> None:
        self.reader.close()


def open_event_sources(package, obj, btf, perf_buffer_pages: int,
                       only: str | None = None) -> list[EventSource]:
    sources = []
    try:
        for name, bpf_map in obj.maps.items():
            if bpf_map.type_name not in OUTPUT_MAP_TYPES or (only and name != only):
                continue
            type_id, type_name = record_type_id(package, btf, name)
            codec = compile_codec(btf, type_id)
            if bpf_map.type_name == "ringbuf":
                reader = RingBufferReader(bpf_map)
                reader.record_size = codec.size
            else:
                reader = PerfBufferReader(bpf_map, page_count=perf_buffer_pages)
                reader.record_size = codec.size
            sources.append(EventSource(name, type_name, codec, reader))
    except BaseException:
        for source in sources:
            source.close()
        raise
    return sources


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

    def fileno(self) -> int:
        """The epoll fd: readable when any source has records (for asyncio add_reader)."""
        return self._epoll.fileno()

    def close(self) -> None:
        self._epoll.close()


class BackgroundDrainer:
    """EventPoller's job in a thread of its own: it copies records out of the kernel's
    rings as soon as they arrive, so a slow consumer (formatting, writing) makes a queue
    in memory instead of a full ring that drops records. The queue is bounded
    (`max_bytes`): beyond it the thread stops draining and the kernel's own accounting
    (perf-buffer losses, a ring reported nearly full) takes over.

    Same interface as EventPoller: poll(timeout), fileno() (readable when records wait)
    and close()."""

    def __init__(self, poller: EventPoller, max_bytes: int = 256 << 20):
        self.sources = poller.sources
        self._poller = poller
        self._max_bytes = max_bytes
        self._queue: deque = deque()
        self._bytes = 0
        self._lock = threading.Lock()
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="eunomia-drain", daemon=True)
        self._thread.start()

    @staticmethod
    def _size(records) -> int:
        blob = getattr(records, "blob", None)
        return len(blob) if blob is not None else sum(len(r) for r in records)

    def _run(self) -> None:
        try:
            self._drain()
        except (EunomiaError, OSError) as exc:  # handed to the consumer by the next poll()
            self._error = exc
            os.write(self._wake_write, b"x")

    def _drain(self) -> None:
        while not self._stop.is_set():
            if self._bytes >= self._max_bytes:
                time.sleep(0.001)       # let the consumer catch up
                continue
            batches = self._poller.poll(0.05)
            if not batches:
                continue
            size = sum(self._size(records) for _, records in batches)
            with self._lock:
                was_empty = not self._queue
                self._queue.extend(batches)
                self._bytes += size
            if was_empty:
                os.write(self._wake_write, b"x")

    def _take(self, only: EventSource | None) -> list:
        if self._error is not None and not self._queue:
            error, self._error = self._error, None
            raise error
        with self._lock:
            if only is None:
                taken, self._queue = list(self._queue), deque()
            else:
                taken = [b for b in self._queue if b[0] is only]
                self._queue = deque(b for b in self._queue if b[0] is not only)
            self._bytes -= sum(self._size(records) for _, records in taken)
            if not self._queue:
                try:
                    os.read(self._wake_read, 4096)
                except BlockingIOError:
                    pass
        return taken

    def poll(self, timeout: float, only: EventSource | None = None) -> list:
        """Batches drained so far (of `only`, if given), waiting up to `timeout` s."""
        taken = self._take(only)
        if taken or timeout <= 0:
            return taken
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return []
            select.select([self._wake_read], [], [], left if only is None else min(left, 0.01))
            taken = self._take(only)
            if taken:
                return taken

    def fileno(self) -> int:
        return self._wake_read

    def close(self) -> None:
        if self._stop.is_set():
            return          # closed already: the pipe's fds may belong to others now
        self._stop.set()
        self._thread.join(timeout=5)
        self._poller.close()
        os.close(self._wake_read)
        os.close(self._wake_write)
