"""The `meta` half of a package: what the object holds and how to present it.

One value class (eunomia.valueclass) per object of the format (see docs/internals.md), read and written by one
declarative reader (`Part`): each field's type annotation says what it accepts, so
`from_dict(doc, where)` validates and names the path of any error, and `to_dict()` writes
it back. Kinds are strict (a string is never taken for a number), null is the same as
absent for a field with a default, and keys the format does not define are kept in
`extra` and written back unchanged, after the known ones.

Why not pydantic, which the server's and the fleet's models use: a
standalone tool (`ecc --standalone`, a zipapp) carries this module but cannot carry
pydantic's compiled core, and importing pydantic would cost `ecli run` more start-up
time (about 170 ms here) than all the rest of it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from .. import defaults
from ..errors import PackageError
from ..kinds import SAMPLE_TYPES
from ..valueclass import field, fields, valueclass
from .fields import check_kind, expect_object, text_value


def _problem(where: str, message: str) -> PackageError:
    return PackageError(f"{where}: {message}")


class Part:
    """One object of the format, as a value class with an `extra` dict. A field's
    metadata may say {"text": True} (a free-text field: numbers kept as text),
    {"check": function(value, where)} (raises PackageError), or {"required": True} (a
    field with a default that a document must still give)."""

    ALWAYS_WRITTEN: ClassVar[tuple[str, ...]] = ()     # written even when None

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(spec[0] for spec in _specs(cls)[0])

    @classmethod
    def from_dict(cls, doc: Any, where: str):
        """The object `doc` read at JSON path `where`; PackageError naming the path of
        the first problem."""
        return cls._read(doc, where)

    @classmethod
    def _read(cls, doc: Any, path) -> Part:
        # `path` is a str, or (parent path, key): made into text only for an error
        if type(doc) is not dict:
            expect_object(doc, _at(path))
        specs, known, checked = _specs(cls)
        values = {}
        for name, read, required, check in specs:
            value = doc.get(name)
            if value is None:
                if not required:
                    continue        # null is the same as absent
                if name not in doc:
                    raise _problem(_at(path), f"missing '{name}'")
            values[name] = read(value, (path, name))
            if check is not None:
                check(values[name], _at((path, name)))
        part = cls(**values, extra={k: v for k, v in doc.items() if k not in known})
        if checked:
            part.check(_at(path))
        return part

    def check(self, where: str) -> None:
        """Checks across fields, after reading (PackageError)."""

    def to_dict(self) -> dict:
        out: dict = {}
        for name, *_ in _specs(type(self))[0]:
            value = getattr(self, name)
            if value is not None or name in self.ALWAYS_WRITTEN:
                out[name] = _plain(value)
        out.update(self.extra)
        return out


def _at(path) -> str:
    """A path as text: "meta.bpf_skel.maps[1].name"."""
    if isinstance(path, str):
        return path
    parent, key = path
    return f"{_at(parent)}[{key}]" if isinstance(key, int) else f"{_at(parent)}.{key}"


_SPEC_CACHE: dict[type, tuple] = {}


def _specs(cls: type) -> tuple[list, frozenset, bool]:
    """([(name, reader, required, check)] of each field but `extra`, the field names,
    whether the class checks across fields), made once per class from its annotations."""
    found = _SPEC_CACHE.get(cls)
    if found is None:
        specs = []
        for f in fields(cls):
            if f.name == "extra":
                continue
            required = f.metadata.get("required", not f.has_default)
            specs.append((f.name, _reader(_annotation(cls, f.name), f.metadata), required,
                          f.metadata.get("check")))
        found = (specs, frozenset(spec[0] for spec in specs), cls.check is not Part.check)
        _SPEC_CACHE[cls] = found
    return found


def _annotation(cls: type, name: str) -> str:
    """The annotation of field `name`, as written (a string: postponed annotations)."""
    for klass in cls.__mro__:
        annotation = klass.__dict__.get("__annotations__", {}).get(name)  # noqa: RUF063
        if annotation is not None:
            return annotation
    raise TypeError(f"{cls.__name__}.{name} has no annotation")


_SCALARS = {"str": str, "int": int, "float": float, "bool": bool, "dict": dict}


def _reader(annotation: str, meta) -> Any:
    """A function(value, path) that checks `value` against `annotation` (str, int,
    float, bool, dict, Any, a Part of this module, list[...], each maybe `| None`) and
    returns it. The annotation is read as text, not evaluated: typing.get_type_hints
    compiles every one of them, a millisecond of each `ecli run`'s start."""
    if meta.get("text"):
        return lambda value, path: value if type(value) is str else \
            text_value(value, _at(path))
    kind = annotation.removesuffix(" | None")       # null is the same as absent
    if kind == "Any":
        return lambda value, path: value
    if kind.startswith("list[") and kind.endswith("]"):
        item = _reader(kind[5:-1], {})

        def read_list(value, path):
            if type(value) is not list:
                check_kind(value, list, _at(path))
            return [item(one, (path, index)) for index, one in enumerate(value)]
        return read_list
    part = globals().get(kind)
    if isinstance(part, type) and issubclass(part, Part):
        return part._read
    scalar = _SCALARS[kind]

    def read_scalar(value, path):
        return value if type(value) is scalar else check_kind(value, scalar, _at(path))
    return read_scalar


def _plain(value: Any) -> Any:
    if isinstance(value, Part):
        return value.to_dict()
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


TEXT = {"text": True}


def _one_letter(short: str, where: str) -> None:
    if len(short) != 1:
        raise _problem(where, f"a short flag is one character, not '{short}'")


@valueclass
class CmdArg(Part):
    """How a global variable appears as a command-line flag (`/// @cmdarg {...}`)."""

    default: Any = None
    long: str | None = None
    short: str | None = field(default=None, metadata={"check": _one_letter})
    help: str | None = field(default=None, metadata=TEXT)
    extra: dict = field(default_factory=dict)


@valueclass
class Variable(Part):
    """A global variable of a data section: name and C type, doc and flag settings."""

    name: str
    type: str
    description: str | None = field(default=None, metadata=TEXT)
    cmdarg: CmdArg | None = None
    value: Any = None
    extra: dict = field(default_factory=dict)


@valueclass
class DataSection(Part):
    """A data section (.rodata, .data, .bss, ...) and its global variables."""

    name: str
    variables: list[Variable] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    ALWAYS_WRITTEN: ClassVar[tuple[str, ...]] = ("variables",)


MAX_SAMPLE_INTERVAL_MS = 24 * 3600 * 1000
# meta field -> largest value a package may ask for
_LIMITS = {"poll_timeout_ms": 60_000, "perf_buffer_pages": 1 << 14,
           "perf_buffer_time_ms": 60_000}


def _sample_type(kind: str, where: str) -> None:
    if kind not in SAMPLE_TYPES:
        raise _problem(where, f"'{kind}' is not one of {', '.join(SAMPLE_TYPES)}")


def _sample_interval(interval: float, where: str) -> None:
    if not 0 < interval <= MAX_SAMPLE_INTERVAL_MS:
        raise _problem(where, f"must be a positive number of ms up to "
                              f"{MAX_SAMPLE_INTERVAL_MS} (a day), not {interval}")


@valueclass
class Sample(Part):
    """How a map is sampled: every `interval` ms, shown as `type`, in `unit`."""

    interval: float | None = field(default=None, metadata={"check": _sample_interval})
    type: str | None = field(default=None, metadata={"check": _sample_type})
    unit: str | None = field(default=None, metadata=TEXT)
    clear_map: bool | None = None
    extra: dict = field(default_factory=dict)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_export_config(config: Any, where: str) -> None:
    """A struct name, or {"type": name}, {"btf_type_id": N} or {"custom_members": [...]}
    (eunomia-bpf's forms)."""
    if isinstance(config, str):
        return
    if not isinstance(config, dict):
        raise _problem(where, "expected an object or a struct name")
    for key in ("type", "struct"):
        if key in config and not isinstance(config[key], str):
            raise _problem(f"{where}.{key}", "expected a struct name")
    type_id = config.get("btf_type_id")
    if type_id is not None and (not _is_count(type_id) or type_id == 0):
        raise _problem(f"{where}.btf_type_id", "expected a BTF type id (a positive integer)")
    members = config.get("custom_members")
    if members is not None:
        if not isinstance(members, list) or not members:
            raise _problem(f"{where}.custom_members", "expected a non-empty list")
        for index, member in enumerate(members):
            if not isinstance(member, dict) or not isinstance(member.get("name"), str) or \
                    not all(_is_count(member.get(k)) for k in ("offset", "btf_type_id")):
                raise _problem(f"{where}.custom_members[{index}]",
                               "expected {name, offset, btf_type_id}")


@valueclass
class MapMeta(Part):
    """A map of the object; `export_config` says which struct an output map carries.

    ecc writes `{"type": "<struct>", "btf_type_id": N}`: eunomia-bpf's own runtime reads
    `btf_type_id`, ours prefers the name.
    """

    name: str
    ident: str | None = None
    mmaped: bool | None = None
    sample: Sample | None = None
    export_config: Any = field(default=None, metadata={"check": _check_export_config})
    description: str | None = field(default=None, metadata=TEXT)
    extra: dict = field(default_factory=dict)


@valueclass
class ProgMeta(Part):
    """A program: its function name and SEC name; doc annotations stay in `extra`.

    `attach` is informative: programs attach by the section name in the ELF object (as
    eunomia-bpf's loader does), so a package may leave it out."""

    name: str
    attach: str | None = None
    link: bool = True
    description: str | None = field(default=None, metadata=TEXT)
    extra: dict = field(default_factory=dict)


@valueclass
class Doc(Part):
    """The program's own documentation (from the comment above `LICENSE`)."""

    version: str | None = field(default=None, metadata=TEXT)
    brief: str | None = field(default=None, metadata=TEXT)
    details: str | None = field(default=None, metadata=TEXT)
    description: str | None = field(default=None, metadata=TEXT)
    extra: dict = field(default_factory=dict)


@valueclass
class BpfSkel(Part):
    """What the object holds: data sections, maps, programs, and its documentation."""

    obj_name: str
    doc: Doc | None = None
    data_sections: list[DataSection] = field(default_factory=list)
    maps: list[MapMeta] | None = None
    progs: list[ProgMeta] | None = None
    extra: dict = field(default_factory=dict)
    ALWAYS_WRITTEN: ClassVar[tuple[str, ...]] = ("data_sections", "maps", "progs")


@valueclass
class ExportMember(Part):
    """A member of an export type: its name and C type name."""

    name: str
    type: str
    extra: dict = field(default_factory=dict)


@valueclass
class ExportType(Part):
    """A struct sent to user space; `type_id` indexes the object's own BTF."""

    name: str
    members: list[ExportMember] = field(default_factory=list)
    size: int = field(default=0, metadata={"required": True})
    type_id: int = field(default=0, metadata={"required": True})
    extra: dict = field(default_factory=dict)
    ALWAYS_WRITTEN: ClassVar[tuple[str, ...]] = ("members",)

    def check(self, where: str) -> None:
        if self.size < 0 or self.type_id < 0:
            raise _problem(where, "size and type_id must not be negative")


def _in_range(value: int, where: str) -> None:
    key = where.rsplit(".", 1)[-1]
    most = _LIMITS[key]
    if not 0 < value <= most:
        raise _problem(where, f"must be from 1 to {most}, not {value}")
    if key == "perf_buffer_pages" and value & (value - 1):
        raise _problem(where, f"must be a power of two, not {value}")


@valueclass
class Meta(Part):
    """Everything of a package besides the object: skeleton, export types, run settings."""

    bpf_skel: BpfSkel
    export_types: list[ExportType] = field(default_factory=list)
    eunomia_version: str | None = field(default=None, metadata=TEXT)
    enable_multiple_export_types: bool | None = None
    poll_timeout_ms: int = field(default=defaults.POLL_TIMEOUT_MS,
                                 metadata={"check": _in_range})
    perf_buffer_pages: int = field(default=defaults.PERF_BUFFER_PAGES,
                                   metadata={"check": _in_range})
    perf_buffer_time_ms: int = field(default=defaults.PERF_BUFFER_TIME_MS,
                                     metadata={"check": _in_range})
    debug_verbose: bool = False
    print_header: bool = True
    extra: dict = field(default_factory=dict)
    ALWAYS_WRITTEN: ClassVar[tuple[str, ...]] = ("export_types",)

    @classmethod
    def from_dict(cls, doc: Any, where: str = "meta") -> Meta:
        return super().from_dict(doc, where)
