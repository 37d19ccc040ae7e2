"""The `meta` half of a package: what the object holds and how to present it.

One dataclass per object of the format (see docs/internals.md). Each has `from_dict(doc,
where)` that validates and names the path of any error, and `to_dict()` that writes it
back; keys the format does not define are kept in `extra` and written back unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import defaults
from ..errors import PackageError
from ..kinds import SAMPLE_TYPES
from .fields import expect_object, extra_keys, optional, put, required, text


def _list_of(doc: dict, key: str, where: str, item_cls, nullable: bool = False):
    value = doc.get(key)
    if value is None:
        return None if nullable else []
    if not isinstance(value, list):
        raise PackageError(f"{where}.{key}: expected a list, got {type(value).__name__}")
    return [item_cls.from_dict(item, f"{where}.{key}[{i}]") for i, item in enumerate(value)]


@dataclass
class CmdArg:
    """How a global variable appears as a command-line flag (`/// @cmdarg {...}`)."""

    default: Any = None
    long: str | None = None
    short: str | None = None
    help: str | None = None
    extra: dict = field(default_factory=dict)

    FIELDS = ("default", "long", "short", "help")

    @classmethod
    def from_dict(cls, doc: Any, where: str) -> CmdArg:
        doc = expect_object(doc, where)
        short = optional(doc, "short", str, where)
        if short is not None and len(short) != 1:
            raise PackageError(f"{where}.short: a short flag is one character, not '{short}'")
        return cls(default=doc.get("default"), long=optional(doc, "long", str, where),
                   short=short, help=text(doc, "help", where),
                   extra=extra_keys(doc, cls.FIELDS))

    def to_dict(self) -> dict:
        out: dict = {}
        for key in self.FIELDS:
            put(out, key, getattr(self, key))
        out.update(self.extra)
        return out


@dataclass
class Variable:
    """A global variable of a data section: name and C type, doc and flag settings."""

    name: str
    type: str
    description: str | None = None
    cmdarg: CmdArg | None = None
    value: Any = None
    extra: dict = field(default_factory=dict)

    FIELDS = ("name", "type", "description", "cmdarg", "value")

    @classmethod
    def from_dict(cls, doc: Any, where: str) -> Variable:
        doc = expect_object(doc, where)
        cmdarg = doc.get("cmdarg")
        return cls(name=required(doc, "name", str, where), type=required(doc, "type", str, where),
                   description=text(doc, "description", where),
                   cmdarg=None if cmdarg is None else CmdArg.from_dict(cmdarg, f"{where}.cmdarg"),
                   value=doc.get("value"), extra=extra_keys(doc, cls.FIELDS))

    def to_dict(self) -> dict:
        out = {"name": self.name, "type": self.type}
        put(out, "description", self.description)
        put(out, "cmdarg", self.cmdarg.to_dict() if self.cmdarg is not None else None)
        put(out, "value", self.value)
        out.update(self.extra)
        return out


@dataclass
class DataSection:
    """A data section (.rodata, .data, .bss, ...) and its global variables."""

    name: str
    variables: list[Variable] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    FIELDS = ("name", "variables")

    @classmethod
    def from_dict(cls, doc: Any, where: str) -> DataSection:
        doc = expect_object(doc, where)
        return cls(name=required(doc, "name", str, where),
                   variables=_list_of(doc, "variables", where, Variable),
                   extra=extra_keys(doc, cls.FIELDS))

    def to_dict(self) -> dict:
        return {"name": self.name, "variables": [v.to_dict() for v in self.variables],
                **self.extra}


MAX_SAMPLE_INTERVAL_MS = 24 * 3600 * 1000
# meta field -> largest value a package may ask for
_LIMITS = {"poll_timeout_ms": 60_000, "perf_buffer_pages": 1 << 14,
           "perf_buffer_time_ms": 60_000}


@dataclass
class Sample:
    """How a map is sampled: every `interval` ms, shown as `type`, in `unit`."""

    interval: int | None = None
    type: str | None = None
    unit: str | None = None
    clear_map: bool | None = None
    extra: dict = field(default_factory=dict)

    FIELDS = ("interval", "type", "unit", "clear_map")

    @classmethod
    def from_dict(cls, doc: Any, where: str) -> Sample:
        doc = expect_object(doc, where)
        kind = optional(doc, "type", str, where)
        if kind is not None and kind not in SAMPLE_TYPES:
            raise PackageError(f"{where}.type: '{kind}' is not one of {', '.join(SAMPLE_TYPES)}")
        interval = optional(doc, "interval", float, where)
        if interval is not None and not 0 < interval <= MAX_SAMPLE_INTERVAL_MS:
            raise PackageError(f"{where}.interval: must be a positive number of ms up to "
                               f"{MAX_SAMPLE_INTERVAL_MS} (a day), not {interval}")
        return cls(interval=interval, type=kind, unit=text(doc, "unit", where),
                   clear_map=optional(doc, "clear_map", bool, where),
                   extra=extra_keys(doc, cls.FIELDS))

    def to_dict(self) -> dict:
        out: dict = {}
        for key in self.FIELDS:
            put(out, key, getattr(self, key))
        out.update(self.extra)
        return out


def _check_export_config(config: Any, where: str) -> None:
    """A struct name, or {"type": name}, {"btf_type_id": N} or {"custom_members": [...]}
    (eunomia-bpf's forms)."""
    if isinstance(config, str):
        return
    if not isinstance(config, dict):
        raise PackageError(f"{where}: expected an object or a struct name")
    for key in ("type", "struct"):
        if key in config and not isinstance(config[key], str):
            raise PackageError(f"{where}.{key}: expected a struct name")
    type_id = config.get("btf_type_id")
    if type_id is not None and (not isinstance(type_id, int) or isinstance(type_id, bool)
                                or type_id <= 0):
        raise PackageError(f"{where}.btf_type_id: expected a BTF type id (a positive integer)")
    members = config.get("custom_members")
    if members is not None:
        if not isinstance(members, list) or not members:
            raise PackageError(f"{where}.custom_members: expected a non-empty list")
        for index, member in enumerate(members):
            if not isinstance(member, dict) or not isinstance(member.get("name"), str) or \
                    not all(isinstance(member.get(k), int) and not isinstance(member.get(k), bool)
                            and member.get(k) >= 0 for k in ("offset", "btf_type_id")):
                raise PackageError(f"{where}.custom_members[{index}]: expected "
                                   "{name, offset, btf_type_id}")


@dataclass
class MapMeta:
    """A map of the object; `export_config` says which struct an output map carries.

    ecc writes `{"type": "<struct>", "btf_type_id": N}`: eunomia-bpf's own runtime reads
    `btf_type_id`, ours prefers the name.
    """

    name: str
    ident: str | None = None
    mmaped: bool | None = None
    sample: Sample | None = None
    export_config: Any = None
    description: str | None = None
    extra: dict = field(default_factory=dict)

    FIELDS = ("name", "ident", "mmaped", "sample", "export_config", "description")

    @classmethod
    def from_dict(cls, doc: Any, where: str) -> MapMeta:
        doc = expect_object(doc, where)
        sample = doc.get("sample")
        export_config = doc.get("export_config")
        if export_config is not None:
            _check_export_config(export_config, f"{where}.export_config")
        return cls(name=required(doc, "name", str, where),
                   ident=optional(doc, "ident", str, where),
                   mmaped=optional(doc, "mmaped", bool, where),
                   sample=None if sample is None else Sample.from_dict(sample, f"{where}.sample"),
                   export_config=export_config,
                   description=text(doc, "description", where),
                   extra=extra_keys(doc, cls.FIELDS))

    def to_dict(self) -> dict:
        out = {"name": self.name}
        put(out, "ident", self.ident)
        put(out, "mmaped", self.mmaped)
        put(out, "sample", self.sample.to_dict() if self.sample is not None else None)
        put(out, "export_config", self.export_config)
        put(out, "description", self.description)
        out.update(self.extra)
        return out


@dataclass
class ProgMeta:
    """A program: its function name and SEC name; doc annotations stay in `extra`.

    `attach` is informative: programs attach by the section name in the ELF object (as
    eunomia-bpf's loader does), so a package may leave it out."""

    name: str
    attach: str | None = None
    link: bool = True
    description: str | None = None
    extra: dict = field(default_factory=dict)

    FIELDS = ("name", "attach", "link", "description")

    @classmethod
    def from_dict(cls, doc: Any, where: str) -> ProgMeta:
        doc = expect_object(doc, where)
        return cls(name=required(doc, "name", str, where),
                   attach=optional(doc, "attach", str, where, None),
                   link=optional(doc, "link", bool, where, True),
                   description=text(doc, "description", where),
                   extra=extra_keys(doc, cls.FIELDS))

    def to_dict(self) -> dict:
        out = {"name": self.name}
        put(out, "attach", self.attach)
        out["link"] = self.link
        put(out, "description", self.description)
        out.update(self.extra)
        return out


@dataclass
class Doc:
    """The program's own documentation (from the comment above `LICENSE`)."""

    version: str | None = None
    brief: str | None = None
    details: str | None = None
    description: str | None = None
    extra: dict = field(default_factory=dict)

    FIELDS = ("version", "brief", "details", "description")

    @classmethod
    def from_dict(cls, doc: Any, where: str) -> Doc:
        doc = expect_object(doc, where)
        return cls(**{k: text(doc, k, where) for k in cls.FIELDS},
                   extra=extra_keys(doc, cls.FIELDS))

    def to_dict(self) -> dict:
        out: dict = {}
        for key in self.FIELDS:
            put(out, key, getattr(self, key))
        out.update(self.extra)
        return out


@dataclass
class BpfSkel:
    """What the object holds: data sections, maps, programs, and its documentation."""

    obj_name: str
    doc: Doc | None = None
    data_sections: list[DataSection] = field(default_factory=list)
    maps: list[MapMeta] | None = None
    progs: list[ProgMeta] | None = None
    extra: dict = field(default_factory=dict)

    FIELDS = ("obj_name", "doc", "data_sections", "maps", "progs")

    @classmethod
    def from_dict(cls, doc: Any, where: str) -> BpfSkel:
        doc = expect_object(doc, where)
        skel_doc = doc.get("doc")
        return cls(obj_name=required(doc, "obj_name", str, where),
                   doc=None if skel_doc is None else Doc.from_dict(skel_doc, f"{where}.doc"),
                   data_sections=_list_of(doc, "data_sections", where, DataSection),
                   maps=_list_of(doc, "maps", where, MapMeta, nullable=True),
                   progs=_list_of(doc, "progs", where, ProgMeta, nullable=True),
                   extra=extra_keys(doc, cls.FIELDS))

    def to_dict(self) -> dict:
        out: dict = {"obj_name": self.obj_name}
        put(out, "doc", self.doc.to_dict() if self.doc is not None else None)
        out["data_sections"] = [s.to_dict() for s in self.data_sections]
        out["maps"] = None if self.maps is None else [m.to_dict() for m in self.maps]
        out["progs"] = None if self.progs is None else [p.to_dict() for p in self.progs]
        out.update(self.extra)
        return out


@dataclass
class ExportMember:
    """A member of an export type: its name and C type name."""

    name: str
    type: str
    extra: dict = field(default_factory=dict)

    FIELDS = ("name", "type")

    @classmethod
    def from_dict(cls, doc: Any, where: str) -> ExportMember:
        doc = expect_object(doc, where)
        return cls(name=required(doc, "name", str, where), type=required(doc, "type", str, where),
                   extra=extra_keys(doc, cls.FIELDS))

    def to_dict(self) -> dict:
        return {"name": self.name, "type": self.type, **self.extra}


@dataclass
class ExportType:
    """A struct sent to user space; `type_id` indexes the object's own BTF."""

    name: str
    members: list[ExportMember] = field(default_factory=list)
    size: int = 0
    type_id: int = 0
    extra: dict = field(default_factory=dict)

    FIELDS = ("name", "members", "size", "type_id")

    @classmethod
    def from_dict(cls, doc: Any, where: str) -> ExportType:
        doc = expect_object(doc, where)
        size = required(doc, "size", int, where)
        type_id = required(doc, "type_id", int, where)
        if size < 0 or type_id < 0:
            raise PackageError(f"{where}: size and type_id must not be negative")
        return cls(name=required(doc, "name", str, where),
                   members=_list_of(doc, "members", where, ExportMember),
                   size=size, type_id=type_id, extra=extra_keys(doc, cls.FIELDS))

    def to_dict(self) -> dict:
        return {"name": self.name, "members": [m.to_dict() for m in self.members],
                "size": self.size, "type_id": self.type_id, **self.extra}


@dataclass
class Meta:
    """Everything of a package besides the object: skeleton, export types, run settings."""

    bpf_skel: BpfSkel
    export_types: list[ExportType] = field(default_factory=list)
    eunomia_version: str | None = None
    enable_multiple_export_types: bool | None = None
    poll_timeout_ms: int = defaults.POLL_TIMEOUT_MS
    perf_buffer_pages: int = defaults.PERF_BUFFER_PAGES
    perf_buffer_time_ms: int = defaults.PERF_BUFFER_TIME_MS
    debug_verbose: bool = False
    print_header: bool = True
    extra: dict = field(default_factory=dict)

    FIELDS = ("bpf_skel", "export_types", "eunomia_version", "enable_multiple_export_types",
              "poll_timeout_ms", "perf_buffer_pages", "perf_buffer_time_ms", "debug_verbose",
              "print_header")

    @classmethod
    def from_dict(cls, doc: Any, where: str = "meta") -> Meta:
        doc = expect_object(doc, where)
        if "bpf_skel" not in doc:
            raise PackageError(f"{where}: missing 'bpf_skel'")
        meta = cls(
            bpf_skel=BpfSkel.from_dict(doc["bpf_skel"], f"{where}.bpf_skel"),
            export_types=_list_of(doc, "export_types", where, ExportType),
            eunomia_version=text(doc, "eunomia_version", where),
            enable_multiple_export_types=optional(doc, "enable_multiple_export_types", bool,
                                                  where),
            poll_timeout_ms=optional(doc, "poll_timeout_ms", int, where,
                                     defaults.POLL_TIMEOUT_MS),
            perf_buffer_pages=optional(doc, "perf_buffer_pages", int, where,
                                       defaults.PERF_BUFFER_PAGES),
            perf_buffer_time_ms=optional(doc, "perf_buffer_time_ms", int, where,
                                         defaults.PERF_BUFFER_TIME_MS),
            debug_verbose=optional(doc, "debug_verbose", bool, where, False),
            print_header=optional(doc, "print_header", bool, where, True),
            extra=extra_keys(doc, cls.FIELDS))
        for key, most in _LIMITS.items():
            value = getattr(meta, key)
            if not 0 < value <= most:
                raise PackageError(f"{where}.{key}: must be from 1 to {most}, not {value}")
        pages = meta.perf_buffer_pages
        if pages & (pages - 1):
            raise PackageError(f"{where}.perf_buffer_pages: must be a power of two, not "
                               f"{pages}")
        return meta

    def to_dict(self) -> dict:
        out: dict = {"bpf_skel": self.bpf_skel.to_dict(),
                     "export_types": [t.to_dict() for t in self.export_types]}
        put(out, "eunomia_version", self.eunomia_version)
        put(out, "enable_multiple_export_types", self.enable_multiple_export_types)
        for key in ("poll_timeout_ms", "perf_buffer_pages", "perf_buffer_time_ms",
                    "debug_verbose", "print_header"):
            out[key] = getattr(self, key)
        out.update(self.extra)
        return out
