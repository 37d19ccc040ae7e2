"""LoadedPackage: a package's live kernel objects (programs, maps, global variables, links).
Its records are read through its EventReader; events(), drain(), poll() and aevents() are
thin ways to the same reader."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..attach_plan import AttachOptions, attach_program
from ..defaults import PERF_BUFFER_PAGES
from ..errors import ArgumentError, EunomiaError, PackageError
from ..events import (
    DEFAULT_QUEUE_BYTES,
    EventReader,
    EventSource,
    export_type_name,
    open_event_sources,
)
from ..logs import Logger
from ..runtime import BpfObject, Link
from ..variables import GlobalVariable, global_variables

log = Logger("eunomia")


def _annotations(meta) -> dict[str, Any]:
    """A program's doc annotations (the unknown keys of its meta entry)."""
    return dict(getattr(meta, "extra", {}) or {}) if meta is not None else {}


def _typed_maps(loaded: LoadedPackage) -> dict[str, Any]:
    """{name: typed map} of every map of `loaded`'s object."""
    from ..maps import typed_map  # imported on use: `ecli run` may never need it
    metas = {m.name: m for m in loaded.package.meta.bpf_skel.maps or []}
    by_raw: dict[int, Any] = {}
    typed = {}
    for name, bpf_map in loaded.raw_maps.items():
        if id(bpf_map) not in by_raw:   # a data section is reachable by two names
            by_raw[id(bpf_map)] = typed_map(
                bpf_map, loaded.btf, programs=loaded.programs, events=loaded.events,
                record_type=export_type_name(metas.get(bpf_map.name)))
        typed[name] = by_raw[id(bpf_map)]
    return typed


class LoadedPackage:
    """Live kernel objects of one package; closes everything it owns on close()."""

    def __init__(self, package, obj: BpfObject,
                 variables: dict[str, GlobalVariable] | None = None):
        """`variables`: the package's globals by name, when the caller has them already
        (else read from the package's BTF when first asked for)."""
        self.package = package
        self._obj = obj
        self._variables = variables
        self.links: dict[str, Link] = {}
        self._reader: EventReader | None = None
        self._reader_choice: tuple | None = None
        self._typed_maps: dict[str, Any] | None = None

    @property
    def variables(self) -> dict[str, GlobalVariable]:
        """The package's global variables by name."""
        if self._variables is None:
            self._variables = {v.name: v for v in global_variables(self.package)}
        return self._variables

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
            self._typed_maps = _typed_maps(self)
        return self._typed_maps

    @property
    def raw_maps(self):
        """{name: BpfMap}: the same maps with bytes in and out."""
        return self._obj.maps

    @property
    def btf(self):
        return self._obj.btf

    def attach(self, name: str | None = None,
               options: AttachOptions | None = None) -> dict[str, Link]:
        """Attaches every program the package marks for linking, or just `name`; returns
        {program: Link} of the links it made (all of them stay in `links`)."""
        options = options or AttachOptions()
        self.event_reader()   # first: a perf event array drops what comes before its rings
        metas = {p.name: p for p in self.package.meta.bpf_skel.progs or []}
        if name is not None and name not in self.programs:
            raise ArgumentError(f"package has no program '{name}' "
                                f"(its programs: {', '.join(self.programs)})")
        made = {}
        for prog_name, program in self.programs.items():
            if name is not None and prog_name != name:
                continue
            if prog_name in self.links or not program.autoload:
                continue
            meta = metas.get(prog_name)
            if name is None and meta is not None and meta.link is False:
                continue
            made[prog_name] = attach_program(program, _annotations(meta), options)
            self.links[prog_name] = made[prog_name]
        return made

    def detach(self) -> None:
        for link in self.links.values():
            link.detach()
        self.links.clear()

    def samplers(self) -> list:
        """A sampler per map whose meta asks for sampling (sampling.MapSampler; its
        module, with the histograms, loads only for a package that samples a map)."""
        result = []
        for meta in self.package.meta.bpf_skel.maps or []:
            sample = getattr(meta, "sample", None)
            if sample is None:
                continue
            if meta.name not in self.maps:
                raise PackageError(f"sampled map '{meta.name}' is not in the object")
            from ..sampling import MapSampler, SampleSpec
            result.append(MapSampler(self.maps[meta.name], SampleSpec.from_meta(sample)))
        return result

    # -- events (all through the one EventReader) ----------------------------------------

    def event_reader(self, record_types: dict[str, str] | None = None,
                     maps: list[str] | None = None) -> EventReader:
        """The reader of every ring buffer and perf event array (or of those in `maps`),
        opened on first use; `record_types` ({map: struct}, --record-type) overrides the
        structs the package names. Choose both before attach() or the first read."""
        choice = (dict(record_types or {}), None if maps is None else frozenset(maps))
        if self._reader is None:
            pages = int(self.package.meta.perf_buffer_pages or PERF_BUFFER_PAGES)
            sources = open_event_sources(self.package, self._obj, self.package.btf(), pages,
                                         *choice)
            try:
                self._reader = EventReader(sources)
            except BaseException:
                for source in sources:
                    source.close()
                raise
            self._reader_choice = choice
        elif (record_types is not None or maps is not None) and choice != self._reader_choice:
            raise ArgumentError("the event reader is open already: choose record types "
                                "and maps before attach() or the first read")
        return self._reader

    def event_sources(self, record_types: dict[str, str] | None = None) -> list[EventSource]:
        """Every ring buffer and perf event array, with its reader and record codec."""
        return self.event_reader(record_types).sources

    def drain_in_background(self, max_bytes: int = DEFAULT_QUEUE_BYTES) -> None:
        """Copies records out of the rings in a thread from now on, queued in memory up to
        `max_bytes` per event map (then dropped, counted in dropped()); events() turns
        this on by itself. See EventReader.background."""
        self.event_reader().background(max_bytes)

    def queued_records(self) -> int:
        """Records copied out of the rings by the background thread and not read yet."""
        return self._reader.queued_records if self._reader is not None else 0

    def read_raw(self, timeout: float, map: str | None = None) -> list[tuple[EventSource, list]]:
        """Raw records in batches per source (or of `map` only), waiting up to `timeout` s."""
        return self.event_reader().read(timeout, map)

    def events(self, timeout: float | None = None, map: str | None = None) -> Iterator:
        """Decoded records from every event map (or `map`) as they arrive; stops after
        `timeout` s without any (never when None). Records are copied out of the rings
        in a thread meanwhile, so a slow loop body queues them instead of losing them."""
        return self.event_reader().follow(timeout, map)

    def aevents(self, timeout: float | None = None, map: str | None = None):
        """events() for asyncio: `async for ev in prog.aevents(): ...`; waits on the
        event loop (no thread) and stops after `timeout` s without records."""
        return self.event_reader().afollow(timeout, map)

    def drain(self, map: str | None = None) -> Iterator:
        """Detaches every program, then yields every record still queued or left in the
        kernel's rings (of `map` only, if given), without waiting: the way to stop
        without losing what was already sent."""
        self.detach()
        reader = self.event_reader()
        reader.source(map)
        return (record for _, record in reader.rest(map))

    def on_event(self, callback: Callable[[Any], Any] | None = None, map: str | None = None):
        """Calls `callback(record)` for each record poll() reads (from `map` only, if
        given). Also a decorator: `@prog.on_event` or `@prog.on_event(map="events")`."""
        if callback is None:
            self.event_reader().source(map)
            return lambda function: self.on_event(function, map)
        self.event_reader().on_event(callback, map)
        return callback

    def poll(self, timeout: float = 0.1) -> int:
        """Waits up to `timeout` s for records and hands each to the on_event callbacks;
        returns how many records were read."""
        reader = self.event_reader()
        return reader.call_back(reader.records(timeout))

    def flush(self) -> int:
        """drain() for on_event callbacks: detaches, then hands every record left to the
        callbacks; returns how many there were."""
        self.detach()
        reader = self.event_reader()
        return reader.call_back(reader.rest())

    def readable(self, record, map: str | None = None) -> dict:
        """A record's values as `ecli run` shows them: fields typed with
        <eunomia/types.bpf.h> (or `/// @format`) made readable, e.g. {"ret": "ENOENT"},
        and container, pod and namespace for a record with a mount-namespace or cgroup
        field (docs/containers.md). `map` names the event map the record came from
        (needed when there are several)."""
        from ..containers import shared_map  # on use: start-up
        from ..output.containers import enriched
        from ..output.formats import field_formats, format_names, member_formats, readable
        reader = self.event_reader()
        source = reader.source(map) or next(iter(reader.sources), None)
        if source is None:
            raise ArgumentError("the package has no ring buffer or perf event array")
        chosen = member_formats(self.package).get(source.type_name, {})
        codec = enriched(source.codec, format_names(source.codec, chosen), shared_map)
        return readable(codec.to_json(record), field_formats(source.codec, chosen))

    def dropped(self, map: str) -> int:
        """Records of event map `map` dropped because the in-memory queue was full."""
        return self.event_reader().dropped(map)

    # -- lifetime --------------------------------------------------------------------

    def close(self) -> None:
        """Detaches, then closes readers, maps and the object. Records not read yet are
        gone after this: drain() or flush() first to keep them."""
        try:
            self.detach()
            for typed in (self._typed_maps or {}).values():
                typed.close()
            if self._reader is not None:
                self._reader.close()
        except EunomiaError as exc:  # closing must not stop the rest from closing
            log.warning("while closing: %s", exc)
        finally:
            self._obj.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
