"""A package opened in the kernel: globals set, programs loaded, ready to attach and read.

    pkg = eunomia.Package.load("package.json")
    with pkg.open(targ_pid=123) as prog:
        prog.attach()
        for ev in prog.events(timeout=1.0):
            print(ev.pid, ev.comm)
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from .attach_plan import AttachOptions, attach_program
from .errors import ArgumentError, BTFError, DecodeError, EunomiaError, PackageError
from .events import (
    BackgroundDrainer,
    EventPoller,
    EventSource,
    export_type_name,
    open_event_sources,
)
from .runtime import BpfObject
from .runtime.ringbuf import RecordBatch
from .sampling import MapSampler, SampleSpec
from .variables import GlobalVariable, global_variables

log = logging.getLogger("eunomia")

KERNEL_BTF = "/sys/kernel/btf/vmlinux"


def require_kernel_btf() -> None:
    """CO-RE packages are relocated against the running kernel's BTF: it must exist."""
    if not os.path.exists(KERNEL_BTF):
        raise BTFError(f"this kernel has no BTF ({KERNEL_BTF} is missing): eunomia packages "
                       "need a kernel built with CONFIG_DEBUG_INFO_BTF=y")


def _annotations(meta) -> dict[str, Any]:
    """A program's doc annotations (the unknown keys of its meta entry)."""
    return dict(getattr(meta, "extra", {}) or {}) if meta is not None else {}


_LOAD_LOCK = threading.RLock()


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

    # -- opening ---------------------------------------------------------------------

    @classmethod
    def open(cls, package, values: dict[str, Any] | None = None,
             autoload: dict[str, bool] | None = None) -> LoadedPackage:
        """Opens the object, writes `values` into its globals, and loads it."""
        with _LOAD_LOCK:    # libbpf's messages (the verifier log) go to one printer
            return cls._open(package, values, autoload)

    @classmethod
    def _open(cls, package, values, autoload) -> LoadedPackage:
        require_kernel_btf()
        variables = global_variables(package)
        by_name = {v.name: v for v in variables}
        encoded = {}
        for name, value in (values or {}).items():
            var = by_name.get(name)
            if var is None:
                known = ", ".join(sorted(by_name)) or "none"
                raise ArgumentError(f"package has no global variable '{name}' "
                                    f"(its globals: {known})")
            try:
                encoded[name] = var.codec.encode(value)
            except DecodeError as exc:
                raise ArgumentError(f"bad value for '{name}' ({var.c_type}): {exc}") from None
        obj = BpfObject.open(package.bpf_object, name=package.meta.bpf_skel.obj_name or None)
        try:
            for name, data in encoded.items():
                var = by_name[name]
                section_map = obj.maps.get(var.section)
                if section_map is None:
                    raise PackageError(f"the object has no {var.section} map for '{name}'")
                section_map.initial_value[var.offset:var.offset + len(data)] = data
            for prog_name, enabled in (autoload or {}).items():
                if prog_name not in obj.programs:
                    raise ArgumentError(f"package has no program '{prog_name}'")
                obj.programs[prog_name].autoload = enabled
            obj.load()
        except BaseException:
            obj.close()
            raise
        return cls(package, obj, variables)

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

    def event_sources(self) -> list[EventSource]:
        """Every ring buffer and perf event array, opened for reading on first use."""
        if self._sources is None:
            pages = int(self.package.meta.perf_buffer_pages or 64)
            self._sources = open_event_sources(self.package, self._obj,
                                               self.package.btf(), pages)
            self._poller = EventPoller(self._sources)
        return self._sources

    def drain_in_background(self, max_bytes: int = 256 << 20) -> None:
        """Copies records out of the kernel's rings in a thread of its own from now on,
        so that slow processing queues them in memory (up to `max_bytes`) instead of
        letting the rings overflow. read_raw(), events(), poll() and aevents() work as
        before. `ecli run` does this; call it when bursts outrun your processing."""
        self.event_sources()
        if not isinstance(self._poller, BackgroundDrainer):
            self._poller = BackgroundDrainer(self._poller, max_bytes)

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
        for source, records in self.read_raw(timeout, map):
            decode = source.codec.decode
            if isinstance(records, RecordBatch):     # decode in place: no slice each
                blob = records.blob
                for offset in records.offsets():
                    yield source.map_name, decode(blob, offset)
                continue
            for raw in records:
                yield source.map_name, decode(raw)

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
            for wanted, callback in self._callbacks:
                if wanted is None or wanted == map_name:
                    callback(record)
        return count

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
        try:
            for typed in (self._typed_maps or {}).values():
                typed.close()
            if self._poller is not None:
                self._poller.close()
            for source in self._sources or []:
                source.close()
            self.detach()
        except EunomiaError as exc:  # closing must not stop the rest from closing
            log.warning("while closing: %s", exc)
        finally:
            self._obj.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
