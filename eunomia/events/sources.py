"""Event sources: every ring buffer and perf event array of a program, with its record type.

Which struct a map carries is decided at compile time (the map's `export_config`), else
a single export type serves all maps; a package that leaves it ambiguous is refused here
rather than decoded with the wrong layout.
"""

from __future__ import annotations

from typing import Any

from ..btf import Struct, Union
from ..btf.maps import defined_maps
from ..decode import UntypedRecordCodec, compile_codec
from ..decode.build import custom_members_codec
from ..errors import ArgumentError, EunomiaError, PackageError
from ..kinds import EVENT_MAP_TYPE_NAMES, EVENT_MAP_TYPES
from ..runtime import PerfBufferReader, RingBufferReader
from ..valueclass import field, valueclass

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


@valueclass
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


@valueclass(frozen=True)
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
