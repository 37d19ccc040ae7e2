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
from .btf.maps import defined_maps
from .decode import UntypedRecordCodec, compile_codec
from .decode.build import custom_members_codec
from .errors import ArgumentError, EunomiaError, PackageError
from .kinds import EVENT_MAP_TYPE_NAMES, EVENT_MAP_TYPES
from .runtime import PerfBufferReader, RingBufferReader

# Raw records of one event map held in memory between the kernel's ring and the consumer.
# 32 MiB is about 600,000 records of 48 bytes: a burst that size waits in memory instead of
# being dropped, and `ecli run` stays near 90 MB RSS in bench/run.py's flood (32 MB of it
# the flood's 16 MiB ring, which the kernel maps twice, prepopulated).
DEFAULT_QUEUE_BYTES = 32 << 20
# With its queue full, a ring buffer is let fill to this fraction before records are
# dropped (counted) to keep it from refusing new ones.
RING_KEPT_WHEN_BEHIND = 0.9
# Records move from a ring to the queue, and from the queue to the consumer, in batches of
# about this many bytes: what the consumer holds while it works stays small and counted.
BATCH_BYTES = 1 << 20


# eunomia-bpf's export_config strings that name no struct
_NO_STRUCT = ("no_export", "default", "")


def export_type_name(map_meta) -> str | None:
    """The struct a map's meta says it carries (`/// @export name` in the source)."""
    config = getattr(map_meta, "export_config", None) if map_meta is not None else None
    if isinstance(config, str):
        return None if config in _NO_STRUCT else config
    if isinstance(config, dict):
        return config.get("type") or config.get("struct") or None
    return None


def record_type_id(package, btf, map_name: str) -> tuple[int, str] | None:
    """The BTF type id and name of the record `map_name` carries, or None when the
    package does not say (no export type, or several and no choice for this map)."""
    maps = {m.name: m for m in package.meta.bpf_skel.maps or []}
    exports = package.meta.export_types or []
    config = getattr(maps.get(map_name), "export_config", None)
    if isinstance(config, dict) and "btf_type_id" in config and "type" not in config:
        # eunomia-bpf's own packages name the record by its BTF type id only
        type_id = config["btf_type_id"]
        if not isinstance(type_id, int) or isinstance(type_id, bool) or \
                not 0 < type_id < len(btf.types):
            raise PackageError(f"map '{map_name}': export_config.btf_type_id {type_id!r} is "
                               "not a type of the object's BTF")
        _, t = btf.resolve(type_id)
        if isinstance(t, (Struct, Union)):
            return type_id, t.name
        raise PackageError(f"map '{map_name}': export_config.btf_type_id {type_id} is not "
                           "a struct or union")
    wanted = export_type_name(maps.get(map_name))
    if wanted is None:
        if len(exports) != 1:
            return None
        wanted = exports[0].name
    return struct_type_id(btf, wanted, exports)


def struct_type_id(btf, name: str, exports=()) -> tuple[int, str]:
    """The type id of struct (or union) `name`: the export type's id when it is one."""
    name = name[len("struct "):].strip() if name.startswith("struct ") else name
    for export in exports:
        if export.name == name and 0 < export.type_id < len(btf.types):
            t = btf[export.type_id]
            if isinstance(t, (Struct, Union)) and t.name == name:
                return export.type_id, name
    for kind in (Struct, Union):
        try:
            type_id, _ = btf.find(name, kind=kind)
            return type_id, name
        except EunomiaError:
            continue
    raise PackageError(f"the object's BTF has no struct or union '{name}'")


def record_codec(package, btf, map_name: str, chosen: str | None = None):
    """(codec, type name) of the records of `map_name`: the struct `chosen` (ecli run's
    --record-type), else the package's; UntypedRecordCodec when the package names none;
    a codec of eunomia-bpf's `custom_members` when the package lists members."""
    if chosen:
        type_id, name = struct_type_id(btf, chosen)
        return compile_codec(btf, type_id), name
    maps = {m.name: m for m in package.meta.bpf_skel.maps or []}
    config = getattr(maps.get(map_name), "export_config", None)
    if isinstance(config, dict) and "custom_members" in config:
        return custom_members_codec(btf, config["custom_members"], map_name), map_name
    found = record_type_id(package, btf, map_name)
    if found is None:
        return UntypedRecordCodec(), ""
    return compile_codec(btf, found[0]), found[1]


def untyped_hint(source: EventSource, package) -> str:
    """What to do about records of no declared type (said once per map)."""
    structs = [e.name for e in package.meta.export_types or []]
    among = f" (the package's structs: {', '.join(structs)})" if structs else ""
    return (f"map '{source.map_name}' carries records of no declared type{among}: they are "
            "shown as size and hex bytes; name the struct with --record-type "
            f"{source.map_name}=STRUCT, or declare it in the header given to ecc with "
            "'/// @export STRUCT' above the map")


@dataclass
class EventSource:
    """One output map: its reader and the codec of the records it carries. `lost` counts
    what the kernel reports it could not write (perf buffers); `dropped` what a full
    queue in user space had to throw away."""

    map_name: str
    type_name: str
    codec: Any
    reader: Any
    dropped: int = 0
    lost_reported: int = 0
    dropped_reported: int = 0
    warned_full: bool = field(default=False)

    @property
    def lost(self) -> int:
        return getattr(self.reader, "lost", 0)

    @property
    def untyped(self) -> bool:
        """The package names no struct for these records (see record_codec)."""
        return isinstance(self.codec, UntypedRecordCodec)

    def close(self) -> None:
        self.reader.close()


@dataclass(frozen=True)
class RecordSpec:
    """What one event map carries, known from the package alone (nothing loaded): enough
    to check output settings (--fields, --filter, --format) before a run starts."""

    map_name: str
    type_name: str
    codec: Any


def record_specs(package, record_types: dict[str, str] | None = None) -> list[RecordSpec]:
    """A RecordSpec per ring buffer and perf event array the object defines in `.maps`
    (`record_types`, {map: struct}, as --record-type picks them)."""
    btf = package.btf()
    record_types = dict(record_types or {})
    specs = []
    for definition in defined_maps(btf):
        if definition.map_type not in EVENT_MAP_TYPES:
            continue
        name = definition.name
        codec, type_name = record_codec(package, btf, name, record_types.pop(name, None))
        specs.append(RecordSpec(name, type_name, codec))
    _check_all_used(record_types, [spec.map_name for spec in specs])
    return specs


def _check_all_used(record_types: dict[str, str], event_maps: list[str]) -> None:
    """ArgumentError when --record-type names a map that is no event map."""
    if record_types:
        known = ", ".join(event_maps) or "none"
        raise ArgumentError(f"--record-type names no event map '{next(iter(record_types))}' "
                            f"(the package's ring buffers and perf event arrays: {known})")


def open_event_sources(package, obj, btf, perf_buffer_pages: int,
                       record_types: dict[str, str] | None = None,
                       maps: set[str] | None = None) -> list[EventSource]:
    """A reader per ring buffer and perf event array (or per one named in `maps`), with
    the codec of its records (`record_types` picks a struct by map name, as
    --record-type does)."""
    record_types = dict(record_types or {})
    sources = []
    event_maps = []
    try:
        for name, bpf_map in obj.maps.items():
            if bpf_map.type_name not in EVENT_MAP_TYPE_NAMES:
                continue
            event_maps.append(name)
            codec, type_name = record_codec(package, btf, name, record_types.pop(name, None))
            if maps is not None and name not in maps:
                continue
            if bpf_map.type_name == "ringbuf":
                reader = RingBufferReader(bpf_map)
            else:
                reader = PerfBufferReader(bpf_map, page_count=perf_buffer_pages)
            reader.record_size = codec.size
            sources.append(EventSource(name, type_name, codec, reader))
        _check_all_used(record_types, event_maps)
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
        self._thread = threading.Thread(target=self._run, name="eunomia-drain", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            behind = False
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
        except (EunomiaError, OSError) as exc:  # handed to the consumer by the next poll()
            self._error = exc
            self.wake()

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
