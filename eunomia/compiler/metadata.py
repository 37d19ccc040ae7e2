"""The package meta of a compiled object: skeleton, export types and record types of
output maps, with the source's doc comments folded in."""

from __future__ import annotations

from typing import Any

from .. import __version__
from ..errors import CompileError, PackageError
from ..kinds import EVENT_MAP_TYPES, MapType
from ..logs import Logger
from ..package import (
    BpfSkel,
    CmdArg,
    DataSection,
    Doc,
    ExportMember,
    ExportType,
    MapMeta,
    Meta,
    ProgMeta,
    Sample,
    Variable,
)
from .objinfo import ObjectInfo, internal_map_name
from .record_types import infer_record_types

_MAP_TYPE_NAMES = {4: "perf event array", 27: "ring buffer", 31: "user ring buffer"}

log = Logger("eunomia.compiler")


def export_type(info: ObjectInfo, name: str, why: str) -> ExportType:
    """The ExportType of struct `name` in the object; CompileError saying `why` we need it."""
    found = info.struct(name)
    if found is None:
        raise CompileError(f"struct {name} ({why}) is not in the object's BTF")
    type_id, struct = found
    return ExportType(name=name, size=struct.size, type_id=type_id,
                      members=[ExportMember(n, t) for n, t in info.members(struct)])


def _cmdarg(value: Any, where: str) -> CmdArg:
    if not isinstance(value, dict):
        raise CompileError(f"{where}: @cmdarg needs a JSON object, e.g. "
                           '@cmdarg {"short": "p", "default": 0}')
    try:
        return CmdArg.from_dict(value, f"{where} @cmdarg")
    except PackageError as exc:
        raise CompileError(str(exc)) from None


def _text(value: Any) -> str | None:
    if value is None or value is True:
        return None
    return value if isinstance(value, str) else str(value)


def build_variables(info: ObjectInfo, docs: dict) -> list[DataSection]:
    sections: dict[str, DataSection] = {}
    for var in info.global_variables():
        doc = dict(docs.get(var.name, {}))
        cmdarg = doc.pop("cmdarg", None)
        description = _text(doc.pop("description", None))
        variable = Variable(name=var.name, type=var.type, description=description,
                            cmdarg=None if cmdarg is None else _cmdarg(cmdarg, var.name),
                            extra=doc)
        sections.setdefault(var.section, DataSection(var.section)).variables.append(variable)
    return list(sections.values())


def build_maps(info: ObjectInfo, obj_name: str, docs: dict) -> list[MapMeta]:
    maps = []
    for map_info in info.maps():
        doc = dict(docs.get(map_info.name, {}))
        doc.pop("export", None)  # becomes export_config, decided by record_type_configs()
        sample = doc.pop("sample", None)
        if sample is not None:
            if not isinstance(sample, dict):
                raise CompileError(f"map {map_info.name}: @sample needs a JSON object, e.g. "
                                   '@sample {"interval": 1000, "type": "log2_hist"}')
            try:
                sample = Sample.from_dict(sample, f"map {map_info.name} @sample")
            except PackageError as exc:
                raise CompileError(str(exc)) from None
        maps.append(MapMeta(name=map_info.name, ident=map_info.name, sample=sample,
                            description=_text(doc.pop("description", None)), extra=doc))
    for section in info.data_sections():  # libbpf makes a map of each, as eunomia lists
        maps.append(MapMeta(name=internal_map_name(obj_name, section),
                            ident=section.lstrip(".").replace(".", "_"), mmaped=True))
    return maps


def build_programs(info: ObjectInfo, docs: dict) -> list[ProgMeta]:
    progs = []
    for prog in info.programs():
        doc = dict(docs.get(prog.name, {}))
        link = doc.pop("link", True)
        progs.append(ProgMeta(name=prog.name, attach=prog.section, link=link is not False,
                              description=_text(doc.pop("description", None)), extra=doc))
    return progs


def build_doc(docs: dict) -> Doc | None:
    doc = docs.get("LICENSE")
    if not doc:
        return None
    fields = {k: _text(doc.get(k)) for k in Doc.field_names()}
    return Doc(**fields, extra={k: v for k, v in doc.items() if k not in Doc.field_names()})


def record_type_configs(info: ObjectInfo, source: str, docs: dict,
                        exports: list[ExportType]) -> dict[str, str]:
    """{output map: struct it carries}; may add structs to `exports`.

    A `/// @export NAME` note on the map decides; else a single export type serves all;
    else the source's reserve/output calls when they name one struct; else an error.
    """
    chosen: dict[str, str] = {}
    inferred: dict[str, set[str]] | None = None
    for map_info in info.maps():
        note = docs.get(map_info.name, {}).get("export")
        # a user ring buffer carries records the other way; typed only when it says which
        named_input = map_info.map_type == MapType.USER_RINGBUF and note is not None
        if map_info.map_type not in EVENT_MAP_TYPES and not named_input:
            continue
        kind = _MAP_TYPE_NAMES[map_info.map_type]
        if note is not None:
            if not isinstance(note, str) or not note.strip():
                raise CompileError(f"map '{map_info.name}': '/// @export' needs a struct name")
            name = note.strip()
            name = name[len("struct "):].strip() if name.startswith("struct ") else name
            why = f"named by '/// @export' on map '{map_info.name}'"
        elif len(exports) == 1:
            name, why = exports[0].name, "the single export type"
        else:
            if inferred is None:
                inferred = infer_record_types(source)
            structs = {info.struct_for_spelling(s) for s in inferred.get(map_info.name, ())}
            structs.discard(None)
            if len(structs) != 1:
                # Packaged anyway (programs written for their own loaders do this);
                # ecli shows such records as their size and bytes.
                seen = f" (the source puts {', '.join(sorted(structs))} in it)" if structs else ""
                header = "" if exports else " or give ecc the header defining it"
                log.warning("warning: cannot tell which struct %s map '%s' carries%s: ecli run shows "
                            "its records as hex bytes (or pick one: --record-type %s=STRUCT); "
                            "add '/// @export struct_name' on the line above the map%s",
                            kind, map_info.name, seen, map_info.name, header)
                continue
            name = structs.pop()
            why = f"sent through map '{map_info.name}'"
        if not any(e.name == name for e in exports):
            exports.append(export_type(info, name, why))
        chosen[map_info.name] = name
    return chosen


def apply_member_formats(exports: list[ExportType], member_docs: dict) -> None:
    """`/// @format TYPE` above a member of an exported struct: kept in the member's meta
    (`"format": TYPE`), where ecli run finds it."""
    from ..output.formats import FORMATS
    for export in exports:
        for member in export.members:
            wanted = member_docs.get(export.name, {}).get(member.name, {}).get("format")
            if wanted is None:
                continue
            if wanted not in FORMATS:
                raise CompileError(f"struct {export.name}, member {member.name}: unknown "
                                   f"@format '{wanted}' (formats: {', '.join(FORMATS)})")
            member.extra["format"] = wanted


def build_meta(info: ObjectInfo, obj_name: str, source: str, docs: dict,
               header_structs: list[str], member_docs: dict | None = None) -> Meta:
    """Everything of the package besides the object."""
    exports = [export_type(info, name, "defined in the header") for name in header_structs]
    carried = record_type_configs(info, source, docs, exports)
    maps = build_maps(info, obj_name, docs)
    type_ids = {e.name: e.type_id for e in exports}
    for map_meta in maps:
        if map_meta.name in carried:
            name = carried[map_meta.name]
            map_meta.export_config = {"type": name, "btf_type_id": type_ids[name]}
    apply_member_formats(exports, member_docs or {})
    skel = BpfSkel(obj_name=obj_name, doc=build_doc(docs),
                   data_sections=build_variables(info, docs), maps=maps,
                   progs=build_programs(info, docs))
    return Meta(bpf_skel=skel, export_types=exports, eunomia_version=__version__,
                enable_multiple_export_types=True if len(exports) > 1 else None)
