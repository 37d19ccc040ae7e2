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
import time
from collections.abc import Iterator
from typing import Any

from .attach_plan import AttachOptions, attach_program
from .errors import ArgumentError, BTFError, DecodeError, EunomiaError, PackageError
from .events import EventPoller, EventSource, open_event_sources
from .runtime import BpfObject
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


class LoadedPackage:
    """Live kernel objects of one package; closes everything it owns on close()."""

    def __init__(self, package, obj: BpfObject, variables: list[GlobalVariable]):
        self.package = package
        self._obj = obj
        self.variables = {v.name: v for v in variables}
        self.links: dict[str, Any] = {}
        self._sources: list[EventSource] | None = None
        self._poller: EventPoller | None = None

    # -- opening ---------------------------------------------------------------------

    @classmethod
    def open(cls, package, values: dict[str, Any] | None = None,
             autoload: dict[str, bool] | None = None) -> LoadedPackage:
        """Opens the object, writes `values` into its globals, and loads it."""
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
        return self._obj.programs

    @property
    def maps(self):
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

    def poll(self, timeout: float) -> list[tuple[EventSource, list]]:
        """Raw records in batches per source, waiting up to `timeout` s for the first."""
        self.event_sources()
        return self._poller.poll(timeout)

    def events(self, timeout: float | None = None, map: str | None = None) -> Iterator:
        """Decoded records as they arrive; stops after `timeout` s without any."""
        self.event_sources()
        step = 0.1 if timeout is None else min(timeout, 0.1)
        idle_since = time.monotonic()
        while True:
            got = False
            for source, records in self.poll(step):
                if map is not None and source.map_name != map:
                    continue
                for raw in records:
                    got = True
                    yield source.codec.decode(raw)
            if got:
                idle_since = time.monotonic()
            elif timeout is not None and time.monotonic() - idle_since >= timeout:
                return

    def samplers(self) -> list[MapSampler]:
        """A sampler per map whose meta asks for sampling."""
        result = []
        for meta in self.package.meta.bpf_skel.maps or []:
            sample = getattr(meta, "sample", None)
            if sample is None:
                continue
            if meta.name not in self.maps:
                raise PackageError(f"sampled map '{meta.name}' is not in the object")
            result.append(MapSampler(self.maps[meta.name], self.btf,
                                     SampleSpec.from_meta(sample)))
        return result

    # -- lifetime --------------------------------------------------------------------

    def close(self) -> None:
        try:
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
