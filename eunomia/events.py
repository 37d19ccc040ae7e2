"""Event sources: every ring buffer and perf event array of a program, with its record type.

Which struct a map carries is decided at compile time (the map's `export_config`), else
a single export type serves all maps; a package that leaves it ambiguous is refused here
rather than decoded with the wrong layout.
"""

from __future__ import annotations

import select
from dataclasses import dataclass, field
from typing import Any

from .btf import Struct, Union
from .decode import compile_codec
from .errors import PackageError
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
            else:
                reader = PerfBufferReader(bpf_map, page_count=perf_buffer_pages)
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
