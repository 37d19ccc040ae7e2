"""A package in the kernel, in two phases with a type each (as libbpf-rs does):

- OpenPackage: opened by libbpf, not loaded. Globals, autoload and map sizes are set
  here, and only here.
- LoadedPackage: loaded (programs verified, maps created): attach, read events, use maps.

    pkg = eunomia.Package.load("package.json")
    with pkg.open(targ_pid=123) as prog:          # both phases at once
        prog.attach()
        for ev in prog.events(timeout=1.0):
            print(ev.pid, ev.comm)
        prog.detach()
        for ev in prog.drain():                   # what was sent before the detach
            print(ev.pid, ev.comm)

    with eunomia.OpenPackage(pkg) as opened:      # phase by phase
        opened.set_global("targ_pid", 123)
        opened.set_max_entries("events", 1 << 20)
        prog = opened.load()
"""

from __future__ import annotations

import logging
import os
import select
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from .attach_plan import AttachOptions, attach_program
from .errors import ArgumentError, BTFError, DecodeError, EunomiaError, PackageError
from .events import (
    DEFAULT_QUEUE_BYTES,
    BackgroundDrainer,
    EventPoller,
    EventSource,
    export_type_name,
    open_event_sources,
)
from .kinds import kernel_btf_path
from .package.btfarchive import KernelId, btf_from, pick
from .runtime import BpfObject
from .runtime.ringbuf import RecordBatch
from .sampling import MapSampler, SampleSpec
from .variables import GlobalVariable, global_variables

log = logging.getLogger("eunomia")


def require_kernel_btf() -> None:
    """CO-RE packages are relocated against the running kernel's BTF: it must exist."""
    path = kernel_btf_path()
    if not os.path.exists(path):
        raise BTFError(f"this kernel has no BTF ({path} is missing): give one with --btf "
                       "PATH (a BTF file, or BTFHub's archive), or run a tar package built "
                       "with `ecc --btfgen`")


def custom_btf(package, btf: str | None) -> bytes | None:
    """The kernel BTF to relocate against when it is not the running kernel's own: `btf`
    (--btf: a file, an archive directory or a tar), else, on a kernel without BTF, the
    one for this kernel among the package's own (a tar package). None: the kernel's."""
    if btf:
        return btf_from(btf)
    if os.path.exists(kernel_btf_path()):
        return None
    if package.btf_files:
        return pick(package.btf_files, KernelId.here(), "the package's BTF archive")
    require_kernel_btf()
    return None


def _annotations(meta) -> dict[str, Any]:
    """A program's doc annotations (the unknown keys of its meta entry)."""
    return dict(getattr(meta, "extra", {}) or {}) if meta is not None else {}


# libbpf's messages (the verifier log) go to one printer: one open or load at a time.
_LOAD_LOCK = threading.RLock()


class OpenPackage:
    """A package opened by libbpf but not loaded: the only phase where global variables,
    autoload and map sizes can be set. load() turns it into a LoadedPackage, after which
    this object is spent; close() (or the with block) frees it if it was never loaded."""

    def __init__(self, package, btf: str | None = None):
        """`btf`: the kernel BTF to relocate against instead of the running kernel's (see
        custom_btf); needed on a kernel without BTF unless the package brings its own."""
        self.package = package
        self._variables = global_variables(package)
        self._by_name = {v.name: v for v in self._variables}
        blob = custom_btf(package, btf)
        self._btf_file = None
        if blob is not None:        # libbpf reads it from a file, at load time
            fd, self._btf_file = tempfile.mkstemp(prefix="eunomia-", suffix=".btf")
            with os.fdopen(fd, "wb") as out:
                out.write(blob)
        try:
            with _LOAD_LOCK:
                self._obj = BpfObject.open(package.bpf_object,
                                           name=package.meta.bpf_skel.obj_name or None,
                                           btf_custom_path=self._btf_file)
        except BaseException:
            self._forget_btf_file()
            raise

    def _forget_btf_file(self) -> None:
        if self._btf_file is not None:
            os.unlink(self._btf_file)
            self._btf_file = None

    def _object(self) -> BpfObject:
        if self._obj is None:
            raise ArgumentError("this OpenPackage was loaded or closed already: set "
                                "globals, autoload and map sizes before load()")
        return self._obj

    @property
    def variables(self) -> dict[str, GlobalVariable]:
        return dict(self._by_name)

    @property
    def program_names(self) -> list[str]:
        return list(self._object().programs)

    @property
    def map_names(self) -> list[str]:
        return list(self._object().maps)

    def set_global(self, name: str, value: Any) -> OpenPackage:
        """Writes `value` into global variable `name` (checked against its C type)."""
        obj = self._object()
        var = self._by_name.get(name)
        if var is None:
            known = ", ".join(sorted(self._by_name)) or "none"
            raise ArgumentError(f"package has no global variable '{name}' "
                                f"(its globals: {known})")
        try:
            data = var.codec.encode(value)
        except DecodeError as exc:
            raise ArgumentError(f"bad value for '{name}' ({var.c_type}): {exc}") from None
        section_map = obj.maps.get(var.section)
        if section_map is None:
            raise PackageError(f"the object has no {var.section} map for '{name}'")
        section_map.initial_value[var.offset:var.offset + len(data)] = data
        return self

    def set_globals(self, values: dict[str, Any]) -> OpenPackage:
        for name, value in values.items():
            self.set_global(name, value)
        return self

    def set_autoload(self, program: str, enabled: bool) -> OpenPackage:
        """Whether `program` is loaded at all (a program left out cannot be attached)."""
        _named(self._object().programs, "program", program).autoload = enabled
        return self

    def set_max_entries(self, map_name: str, count: int) -> OpenPackage:
        """Resizes a map (a ring buffer's size in bytes: a power of two of pages)."""
        _named(self._object().maps, "map", map_name).max_entries = count
        return self

    def load(self) -> LoadedPackage:
        """Loads every program and creates every map; a failure closes this object."""
        obj = self._object()
        self._obj = None
        try:
            with _LOAD_LOCK:
                obj.load()
        except BaseException:
            obj.close()
            raise
        finally:
            self._forget_btf_file()
        return LoadedPackage(self.package, obj, self._variables)

    def close(self) -> None:
        obj, self._obj = self._obj, None
        if obj is not None:
            obj.close()
        self._forget_btf_file()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _named(table: dict, kind: str, name: str):
    """table[name], or an ArgumentError listing what there is."""
    if name not in table:
        raise ArgumentError(f"package has no {kind} '{name}' (its {kind}s: "
                            f"{', '.join(table) or 'none'})")
    return table[name]


class LoadedPackage:
    """Live kernel objects of one package; closes everything it owns on close()."""

    def __init__(self, package, obj: BpfObject, variables: list[GlobalVariable]):
        self.package = package
        self._obj = obj
        self.variables = {v.name: v for v in variables}
        self.links: dict[str, Any] = {}
        self._sources: list[EventSource] | None = None
        self._poller: EventPoller | None = None
        self._typed_maps: dict[str, Any] | None = None
        self._callbacks: list[tuple[str | None, Callable]] = []
        self._held: list[list] = []     # [source, records, next index] read, not handed out

    # -- opening ---------------------------------------------------------------------

    @classmethod
    def open(cls, package, values: dict[str, Any] | None = None,
             autoload: dict[str, bool] | None = None, btf: str | None = None) -> LoadedPackage:
        """Opens the object, writes `values` into its globals, and loads it (`btf`: see
        OpenPackage)."""
        with OpenPackage(package, btf) as opened:
            opened.set_globals(values or {})
            for program, enabled in (autoload or {}).items():
                opened.set_autoload(program, enabled)
            return opened.load()

    # -- programs and maps -----------------------------------------------------------

    @property
    def programs(self):
        """{name: BpfProgram} of every program in the object."""
        return self._obj.programs

    @property
    def maps(self) -> dict[str, Any]:
        """{name: typed map} (eunomia.maps): dict-like maps encoded from BTF, queues,
        stacks, program arrays, stack traces, event maps and user ring buffers."""
        if self._typed_maps is None:
            from .maps import typed_map
            metas = {m.name: m for m in self.package.meta.bpf_skel.maps or []}
            by_raw: dict[int, Any] = {}
            typed = {}
            for name, bpf_map in self._obj.maps.items():
                if id(bpf_map) not in by_raw:   # a data section is reachable by two names
                    by_raw[id(bpf_map)] = typed_map(
                        bpf_map, self.btf, programs=self.programs, events=self.events,
                        record_type=export_type_name(metas.get(bpf_map.name)))
                typed[name] = by_raw[id(bpf_map)]
            self._typed_maps = typed
        return self._typed_maps

    @property
    def raw_maps(self):
        """{name: BpfMap}: the same maps with bytes in and out."""
        return self._obj.maps

    @property
    def btf(self):
        return self._obj.btf

    def attach(self, name: str | None = None, options: AttachOptions | None = None):
        """Attaches every program the package marks for linking, or just `name`."""
        options = options or AttachOptions()
        # Readers first: a perf event array drops what is sent before its rings exist.
        self.event_sources()
        metas = {p.name: p for p in self.package.meta.bpf_skel.progs or []}
        if name is not None and name not in self.programs:
            raise ArgumentError(f"package has no program '{name}' "
                                f"(its programs: {', '.join(self.programs)})")
        for prog_name, program in self.programs.items():
            if name is not None and prog_name != name:
                continue
            if prog_name in self.links or not program.autoload:
                continue
            meta = metas.get(prog_name)
            if name is None and meta is not None and meta.link is False:
                continue
            self.links[prog_name] = attach_program(program, _annotations(meta), options)
        return self

    def detach(self) -> None:
        for link in self.links.values():
            link.detach()
        self.links.clear()

    # -- events ----------------------------------------------------------------------

    def event_sources(self, record_types: dict[str, str] | None = None) -> list[EventSource]:
        """Every ring buffer and perf event array, opened for reading on first use (then
        `record_types`, {map: struct}, overrides the structs the package names)."""
        if self._sources is None:
            pages = int(self.package.meta.perf_buffer_pages or 64)
            self._sources = open_event_sources(self.package, self._obj,
                                               self.package.btf(), pages, record_types)
            self._poller = EventPoller(self._sources)
        return self._sources

    def drain_in_background(self, max_bytes: int = DEFAULT_QUEUE_BYTES) -> None:
        """Copies records out of the kernel's rings in a thread of its own from now on,
        so that slow processing queues them in memory instead of letting the rings
        overflow. The queue holds up to `max_bytes` of records per event map (32 MiB by
        default); past that, records are dropped and counted in `dropped(map)`.
        read_raw(), events(), poll() and aevents() work as before; events() turns this
        on by itself."""
        self.event_sources()
        if not isinstance(self._poller, BackgroundDrainer):
            self._poller = BackgroundDrainer(self._poller, max_bytes)

    def queued_records(self) -> int:
        """Records copied out of the rings by drain_in_background() and not read yet."""
        poller = self._poller
        return poller.queued_records if isinstance(poller, BackgroundDrainer) else 0

    def read_raw(self, timeout: float, map: str | None = None) -> list[tuple[EventSource, list]]:
        """Raw records in batches per source (every source, or the one named `map`: the
        others keep theirs), waiting up to `timeout` s for the first."""
        sources = self.event_sources()
        if map is None:
            return self._poller.poll(timeout)
        source = next(s for s in sources if s.map_name == map)
        if isinstance(self._poller, BackgroundDrainer):
            return self._poller.poll(timeout, only=source)
        records = source.reader.read(0)
        if not records and select.select([source.reader.fileno()], [], [], timeout)[0]:
            records = source.reader.read(0)
        return [(source, records)] if records else []

    def _decoded(self, timeout: float, map: str | None) -> Iterator:
        """(map name, record) of the batches read but not yet handed out (first), then of
        new ones read within `timeout`. Batches are held here, not in the generator, so
        a generator left half way (a consumer that stopped iterating) keeps nothing from
        drain(): each record is handed out once, by whoever asks next."""
        held = self._held
        if not any(map is None or entry[0].map_name == map for entry in held):
            held.extend([source, records, 0] for source, records in self.read_raw(timeout, map))
        for entry in list(held):
            source, records, _ = entry
            if map is not None and source.map_name != map:
                continue
            decode, name = source.codec.decode, source.map_name
            if isinstance(records, RecordBatch):     # decode in place: no slice each
                blob, first, stride = records.blob, records.first, records.stride
                while entry[2] < records.count:
                    index = entry[2]
                    entry[2] = index + 1
                    yield name, decode(blob, first + index * stride)
            else:
                while entry[2] < len(records):
                    index = entry[2]
                    entry[2] = index + 1
                    yield name, decode(records[index])
            for position, other in enumerate(held):
                if other is entry:      # another reader may have finished it meanwhile
                    del held[position]
                    break

    def events(self, timeout: float | None = None, map: str | None = None) -> Iterator:
        """Decoded records from every ring buffer and perf event array (or the one named
        `map`) as they arrive; stops after `timeout` seconds without any (never when
        None). A thread copies records out of the kernel's rings meanwhile (see
        drain_in_background), so a slow loop body queues records instead of losing them."""
        self._check_event_map(map)
        self.drain_in_background()
        step = 0.1 if timeout is None else min(timeout, 0.1)
        idle_since = time.monotonic()
        while True:
            got = False
            for _, record in self._decoded(step, map):
                got = True
                yield record
            if got:
                idle_since = time.monotonic()
            elif timeout is not None and time.monotonic() - idle_since >= timeout:
                return

    def drain(self, map: str | None = None) -> Iterator:
        """Detaches every program, then yields every record still queued in user space or
        left in the kernel's rings (of `map` only, if given), without waiting; ends when
        none is left. The way to stop without losing what was already sent:

            prog.detach()              # or let drain() do it
            for ev in prog.drain():
                handle(ev)
        """
        self._check_event_map(map)
        for _, record in self._decoded_rest(map):
            yield record

    def flush(self) -> int:
        """drain() for on_event callbacks: detaches, then hands every record left to the
        callbacks; returns how many there were."""
        count = 0
        for map_name, record in self._decoded_rest(None):
            count += 1
            self._call_back(map_name, record)
        return count

    def _decoded_rest(self, map: str | None) -> Iterator:
        """(map name, record) of everything left once the programs are detached."""
        self.detach()
        self.event_sources()
        if isinstance(self._poller, BackgroundDrainer):
            self._poller.finish()
        while True:
            got = False
            for item in self._decoded(0, map):
                got = True
                yield item
            if not got:
                return

    def readable(self, record, map: str | None = None) -> dict:
        """A record's values as `ecli run` shows them: fields typed with
        <eunomia/types.bpf.h> (or `/// @format`) made readable, e.g. {"ret": "ENOENT"}.
        Records themselves keep the raw values. `map` names the event map the record
        came from (needed when the package has several)."""
        from .output.formats import field_formats, member_formats, readable
        sources = self.event_sources()
        if map is not None:
            self._check_event_map(map)
        source = next((s for s in sources if map is None or s.map_name == map), None)
        if source is None:
            raise ArgumentError("the package has no ring buffer or perf event array")
        chosen = member_formats(self.package).get(source.type_name, {})
        return readable(source.codec.to_json(record), field_formats(source.codec, chosen))

    def dropped(self, map: str) -> int:
        """Records of event map `map` dropped because the in-memory queue was full."""
        self._check_event_map(map)
        return next(s.dropped for s in self.event_sources() if s.map_name == map)

    def on_event(self, callback: Callable[[Any], Any] | None = None, map: str | None = None):
        """Calls `callback(record)` for each record poll() reads (from `map` only, if
        given). Also a decorator: `@prog.on_event` or `@prog.on_event(map="events")`."""
        self._check_event_map(map)
        if callback is None:
            return lambda function: self.on_event(function, map)
        self._callbacks.append((map, callback))
        return callback

    def poll(self, timeout: float = 0.1) -> int:
        """Waits up to `timeout` s for records and hands each to the on_event callbacks;
        returns how many records were read."""
        count = 0
        for map_name, record in self._decoded(timeout, None):
            count += 1
            self._call_back(map_name, record)
        return count

    def _call_back(self, map_name: str, record) -> None:
        for wanted, callback in self._callbacks:
            if wanted is None or wanted == map_name:
                callback(record)

    async def aevents(self, timeout: float | None = None, map: str | None = None):
        """events() for asyncio: `async for ev in prog.aevents(): ...`; waits on the
        event loop (no thread) and stops after `timeout` s without records."""
        import asyncio
        self._check_event_map(map)
        loop = asyncio.get_running_loop()
        ready = asyncio.Event()
        fd = self._poller.fileno()
        loop.add_reader(fd, ready.set)
        try:
            while True:
                ready.clear()
                got = False
                for _, record in self._decoded(0, map):
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

    def _check_event_map(self, map: str | None) -> None:
        names = [source.map_name for source in self.event_sources()]
        if map is not None and map not in names:
            raise ArgumentError(f"package has no event map '{map}' (its ring buffers and "
                                f"perf event arrays: {', '.join(names) or 'none'})")

    def samplers(self) -> list[MapSampler]:
        """A sampler per map whose meta asks for sampling."""
        result = []
        for meta in self.package.meta.bpf_skel.maps or []:
            sample = getattr(meta, "sample", None)
            if sample is None:
                continue
            if meta.name not in self.maps:
                raise PackageError(f"sampled map '{meta.name}' is not in the object")
            result.append(MapSampler(self.maps[meta.name],
                                     SampleSpec.from_meta(sample)))
        return result

    # -- lifetime --------------------------------------------------------------------

    def close(self) -> None:
        """Detaches, then closes readers, maps and the object. Records not read yet are
        gone after this: drain() or flush() first to keep them."""
        try:
            self.detach()
            for typed in (self._typed_maps or {}).values():
                typed.close()
            if self._poller is not None:
                self._poller.close()
            for source in self._sources or []:
                source.close()
        except EunomiaError as exc:  # closing must not stop the rest from closing
            log.warning("while closing: %s", exc)
        finally:
            self._obj.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
