"""A pure-Python reader of the BTF format: the kernel's blob, or the .BTF of an ELF object."""

from __future__ import annotations

import gc
import struct
from collections.abc import Iterator
from itertools import accumulate

from ..errors import BTFError
from ..files import read_bounded
from .types import (
    MODIFIERS,
    Array,
    Const,
    Datasec,
    DeclTag,
    Enum,
    Enum64,
    Float,
    Func,
    FuncProto,
    Fwd,
    Int,
    Member,
    Param,
    Ptr,
    Restrict,
    Struct,
    Typedef,
    TypeTag,
    Union,
    Var,
    VarSecInfo,
    Void,
    Volatile,
)

MAGIC = 0xEB9F
MAX_BTF_BYTES = 256 << 20   # a kernel's BTF is a few MiB
_HEADER = "HBBIIIII"        # magic, version, flags, hdr_len, type_off/len, str_off/len

_INT_SIGNED, _INT_CHAR, _INT_BOOL = 1, 2, 4
_VAR_STATIC, _VAR_EXTERN = 0, 2            # BTF_VAR_STATIC, BTF_VAR_GLOBAL_EXTERN
_SIMPLE_REFS = {2: Ptr, 8: Typedef, 9: Volatile, 10: Const, 11: Restrict, 18: TypeTag}


class BTF:
    """Parsed BTF: `btf[type_id]`, `find`, `resolve`, `sizeof`, `c_name`.

    >>> btf = BTF.from_file("/sys/kernel/btf/vmlinux")
    >>> btf.c_name(btf.find("task_struct", Struct)[0])
    'struct task_struct'
    """

    def __init__(self, types: list, endian: str, base: BTF | None = None):
        self.types = types            # index = type id; base types included, 0 is Void
        self.endian = endian          # "<" or ">"
        self.base = base
        self._by_name: dict[str, list[int]] | None = None
        self._strings = b""
        self._strings_start = base._strings_len if base is not None else 0
        self._strings_len = self._strings_start
        self._names: dict[int, str] = {}

    # -- parsing ---------------------------------------------------------------------

    @classmethod
    def parse(cls, raw: bytes, base: BTF | None = None, check: bool = True) -> BTF:
        """BTF from a raw blob (a .BTF section, /sys/kernel/btf/*); `base` for split BTF.
        `check` refuses what no compiler writes (integers of impossible sizes, types
        that contain or name themselves) before anything sizes or prints a type; the
        running kernel's own BTF is trusted and read without it."""
        raw = bytes(raw)
        if len(raw) < 24:
            raise BTFError(f"BTF data is {len(raw)} bytes: too short for a header")
        for endian in "<>":
            if struct.unpack_from(endian + "H", raw)[0] == MAGIC:
                break
        else:
            raise BTFError("not BTF data (bad magic)")
        if base is not None and base.endian != endian:
            raise BTFError("split BTF and its base differ in byte order")
        (_, _, _, hdr_len, type_off, type_len, str_off,
         str_len) = struct.unpack_from(endian + _HEADER, raw)
        types_start, strings_start = hdr_len + type_off, hdr_len + str_off
        if strings_start + str_len > len(raw) or types_start + type_len > len(raw):
            raise BTFError(f"BTF data is truncated: header says {hdr_len} + "
                           f"{max(type_off + type_len, str_off + str_len)} bytes, "
                           f"there are {len(raw)}")
        btf = cls(list(base.types) if base is not None else [Void()], endian, base)
        btf._strings = raw[strings_start:strings_start + str_len]
        btf._strings_len = btf._strings_start + str_len
        # ~130k small objects: the cyclic GC would rescan them many times while parsing.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            btf._names = _string_table(btf._strings, btf._strings_start)
            btf.types.extend(_parse_types(btf, raw, types_start, types_start + type_len))
        except struct.error:
            raise BTFError("BTF type section is truncated in the middle of a type") from None
        finally:
            if gc_was_enabled:
                gc.enable()
        if check:
            check_types(btf, len(base.types) if base is not None else 1)
        return btf

    @classmethod
    def from_file(cls, path: str, base: BTF | None = None) -> BTF:
        """BTF from a file holding a raw blob, e.g. "/sys/kernel/btf/vmlinux"."""
        try:
            return cls.parse(read_bounded(path, MAX_BTF_BYTES), base, check=False)
        except OSError as exc:
            raise BTFError(f"cannot read BTF from {path}: {exc.strerror}") from None

    @classmethod
    def from_elf(cls, elf_bytes: bytes, base: BTF | None = None) -> BTF:
        """The .BTF of an ELF object, with DATASEC sizes and offsets filled as libbpf does."""
        from ..elf import Elf, ElfFormatError
        try:
            elf = Elf(bytes(elf_bytes))
            section = elf.section(".BTF")
            if section is None:
                raise BTFError("the object has no .BTF section (compile with -g)")
            btf = cls.parse(elf.section_data(section), base)
            btf._fixup_datasecs(elf)
        except (ElfFormatError, struct.error) as exc:
            raise BTFError(f"not a valid ELF object: {exc}") from None
        return btf

    def _fixup_datasecs(self, elf) -> None:
        """libbpf's btf_fixup_datasec (libbpf 1.x): clang leaves DATASEC sizes and variable
        offsets 0. A section of size 0 takes its ELF section's size and its global
        variables the values of their ELF symbols; static and extern variables are left
        as they are, hidden ones become static; the variables are then sorted by offset.
        .kconfig/.ksyms (and any section the ELF lacks) are only sorted."""
        from ..elf import STB_GLOBAL, STB_WEAK, STT_OBJECT, STV_HIDDEN, STV_INTERNAL
        symbols = {}
        for sym in elf.symbols():
            if sym.type == STT_OBJECT and sym.bind in (STB_GLOBAL, STB_WEAK):
                symbols.setdefault(sym.name, sym)
        first = len(self.base.types) if self.base is not None else 0
        for type_id in range(first, len(self.types)):
            t = self.types[type_id]
            if not isinstance(t, Datasec):
                continue
            section = elf.section(t.name)
            size, infos = t.size, list(t.vars)
            if t.name not in (".kconfig", ".ksyms") and section is not None:
                fix_offsets = size == 0
                size = size or section.size
                for i, v in enumerate(infos):
                    var = self[v.type]
                    if not isinstance(var, Var):
                        raise BTFError(f"DATASEC {t.name}: member #{i} (type {v.type}) is "
                                       f"not a variable")
                    if var.linkage in (_VAR_STATIC, _VAR_EXTERN):
                        continue
                    sym = symbols.get(var.name)
                    if sym is None:
                        raise BTFError(f"DATASEC {t.name}: no ELF symbol for variable "
                                       f"'{var.name}'")
                    if fix_offsets:
                        infos[i] = VarSecInfo(v.type, sym.value, v.size)
                    if sym.visibility in (STV_HIDDEN, STV_INTERNAL):
                        self.types[v.type] = Var(var.name, var.type, _VAR_STATIC)
            infos.sort(key=lambda v: v.offset)
            self.types[type_id] = Datasec(t.name, size, tuple(infos))

    def _string(self, offset: int) -> str:
        """The string at `offset` (split BTF reads its base's names this way)."""
        name = self._names.get(offset)
        if name is not None:
            return name
        if offset < self._strings_start:
            return self.base._string(offset)
        if offset >= self._strings_len:
            raise BTFError(f"BTF string offset {offset} is past the string section "
                           f"({self._strings_len} bytes)")
        local = offset - self._strings_start
        stop = self._strings.find(b"\0", local)
        return self._strings[local:stop if stop >= 0 else None].decode("utf-8", "replace")

    # -- lookups ---------------------------------------------------------------------

    def __getitem__(self, type_id: int):
        if not 0 <= type_id < len(self.types):
            raise BTFError(f"no BTF type with id {type_id} (ids go from 0 to "
                           f"{len(self.types) - 1})")
        return self.types[type_id]

    def __len__(self) -> int:
        return len(self.types)

    def __iter__(self) -> Iterator:
        return iter(self.types)

    def find_all(self, name: str) -> list[tuple[int, object]]:
        """Every (type_id, type) named `name`, in id order (an index built on first use)."""
        if self._by_name is None:
            self._by_name = _name_index(self.types)
        return [(i, self.types[i]) for i in self._by_name.get(name, [])]

    def find(self, name: str, kind=None) -> tuple[int, object]:
        """The first type named `name` (of `kind`, a type class or a tuple of them)."""
        for type_id, t in self.find_all(name):
            if kind is None or isinstance(t, kind):
                return type_id, t
        kinds = kind if isinstance(kind, tuple) else (kind,) if kind else ()
        what = "/".join(k.__name__.lower() for k in kinds)
        raise BTFError(f"no BTF type {what + ' ' if what else ''}'{name}'")

    def resolve(self, type_id: int) -> tuple[int, object]:
        """Skips typedefs and qualifiers."""
        t = self[type_id]
        seen = 0
        while isinstance(t, MODIFIERS):
            type_id, t = t.type, self[t.type]
            seen += 1
            if seen > 64:
                raise BTFError(f"BTF type {type_id}: loop of typedefs/qualifiers")
        return type_id, t

    def sizeof(self, type_id: int) -> int:
        """Size in bytes of a type (through typedefs and qualifiers; pointers are 8)."""
        _, t = self.resolve(type_id)
        if isinstance(t, Ptr):
            return 8
        if isinstance(t, Array):
            return t.nelems * self.sizeof(t.type)
        if isinstance(t, (Int, Float, Struct, Union, Enum, Enum64, Datasec)):
            return t.size
        if isinstance(t, Var):
            return self.sizeof(t.type)
        raise BTFError(f"BTF type {type_id} ({type(t).__name__}) has no size")

    def c_name(self, type_id: int) -> str:
        """The C spelling of a type: "unsigned int", "char[16]", "struct event", "int *"."""
        base, suffix = self._c_parts(type_id)
        return base + suffix

    def _c_parts(self, type_id: int) -> tuple[str, str]:
        t = self[type_id]
        if isinstance(t, Void):
            return "void", ""
        if isinstance(t, (Int, Float, Typedef)):
            return t.name, ""
        if isinstance(t, Struct):
            return f"struct {t.name}" if t.name else "struct", ""
        if isinstance(t, Union):
            return f"union {t.name}" if t.name else "union", ""
        if isinstance(t, (Enum, Enum64)):
            return f"enum {t.name}" if t.name else "enum", ""
        if isinstance(t, Fwd):
            return f"{'union' if t.union else 'struct'} {t.name}", ""
        if isinstance(t, Array):
            base, suffix = self._c_parts(t.type)
            return base, f"[{t.nelems}]{suffix}"
        if isinstance(t, Ptr):
            base, suffix = self._c_parts(t.type)
            if isinstance(self[t.type], FuncProto):
                return base, suffix
            if suffix:                            # pointer to an array: "int (*)[4]"
                return f"{base} (*)", suffix
            return f"{base} *", suffix
        if isinstance(t, (Const, Volatile, Restrict)):
            word = {Const: "const", Volatile: "volatile", Restrict: "restrict"}[type(t)]
            base, suffix = self._c_parts(t.type)
            if isinstance(self[t.type], Ptr):
                return f"{base} {word}", suffix       # a const pointer: "char * const"
            if base.startswith(f"{word} ") or f" {word} " in f" {base} ":
                return base, suffix       # const array of const char: say "const" once
            return f"{word} {base}", suffix
        if isinstance(t, TypeTag):
            return self._c_parts(t.type)
        if isinstance(t, FuncProto):
            params = ", ".join("..." if p.type == 0 else self.c_name(p.type)
                               for p in t.params) or "void"      # type 0 last: variadic
            return f"{self.c_name(t.return_type)} (*)({params})", ""
        return t.name or type(t).__name__.lower(), ""


def _name_index(types: list) -> dict[str, list[int]]:
    """Type ids by name, built on the first lookup."""
    by_name: dict[str, list[int]] = {}
    gc_was_enabled = gc.isenabled()
    gc.disable()         # many new lists: spare the GC rescanning every parsed type
    try:
        for type_id, t in enumerate(types):
            name = t.name
            if name:
                ids = by_name.get(name)
                if ids is None:
                    by_name[name] = [type_id]
                else:
                    ids.append(type_id)
    finally:
        if gc_was_enabled:
            gc.enable()
    return by_name


def _string_table(strings: bytes, first: int) -> dict[int, str]:
    """Every NUL-terminated string of a string section by its offset (plus `first`, the
    base's string length in split BTF). Names nearly always start a string; the rare one
    pointing inside another is looked up by `BTF._string`."""
    if strings.isascii():
        pieces = strings.decode("ascii").split("\0")
        return dict(zip(accumulate((len(p) + 1 for p in pieces), initial=first), pieces))
    table, pos = {}, first      # multi-byte UTF-8: offsets count bytes, not characters
    for piece in strings.split(b"\0"):
        table[pos] = piece.decode("utf-8", "replace")
        pos += len(piece) + 1
    return table


def _parse_types(btf: BTF, raw: bytes, pos: int, end: int) -> list:
    """The type section from `pos` to `end`, in order (ids continue the base's)."""
    endian = btf.endian
    view = memoryview(raw)
    head = struct.Struct(endian + "III").unpack_from
    u32 = struct.Struct(endian + "I").unpack_from
    i32 = struct.Struct(endian + "i").unpack_from
    triples = endian + "III"
    pairs, signed_pairs = endian + "II", endian + "Ii"
    names = btf._names
    name_at = btf._string

    def name_of(offset: int) -> str:
        name = names.get(offset)
        return name if name is not None else name_at(offset)

    types: list = []
    append = types.append
    while pos < end:
        name_off, info, size_or_type = head(raw, pos)
        pos += 12
        kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
        name = names.get(name_off)
        if name is None:
            name = name_at(name_off)
        if kind == 12:
            append(Func(name, size_or_type, vlen))        # vlen holds the linkage
        elif kind == 13:
            stop = pos + 8 * vlen
            append(FuncProto(name, size_or_type, tuple([
                Param(name_of(p_name), p_type)
                for p_name, p_type in struct.iter_unpack(pairs, view[pos:stop])])))
            pos = stop
        elif kind in _SIMPLE_REFS:
            append(_SIMPLE_REFS[kind](name, size_or_type))
        elif kind == 4 or kind == 5:
            stop = pos + 12 * vlen
            rows = struct.iter_unpack(triples, view[pos:stop])
            if info >> 31:      # kind_flag: bitfield size in the offset's high 8 bits
                members = tuple([Member(name_of(m_name), m_type, m_off & 0xFFFFFF, m_off >> 24)
                                 for m_name, m_type, m_off in rows])
            else:
                members = tuple([Member(name_of(m_name), m_type, m_off)
                                 for m_name, m_type, m_off in rows])
            append((Struct if kind == 4 else Union)(name, size_or_type, members))
            pos = stop
        elif kind == 3:
            append(Array(name, *head(raw, pos)))
            pos += 12
        elif kind == 6:
            signed = bool(info >> 31)
            stop = pos + 8 * vlen
            append(Enum(name, size_or_type, tuple(
                (name_of(v_name), value) for v_name, value in
                struct.iter_unpack(signed_pairs if signed else pairs, view[pos:stop])), signed))
            pos = stop
        elif kind == 19:
            signed = bool(info >> 31)
            stop = pos + 12 * vlen
            values = []
            for v_name, lo, hi in struct.iter_unpack(triples, view[pos:stop]):
                value = (hi << 32) | lo
                if signed and value >= 1 << 63:
                    value -= 1 << 64
                values.append((name_of(v_name), value))
            append(Enum64(name, size_or_type, tuple(values), signed))
            pos = stop
        elif kind == 1:
            enc = u32(raw, pos)[0]
            pos += 4
            encoding = (enc >> 24) & 0x0F
            append(Int(name, size_or_type, bool(encoding & _INT_SIGNED),
                       bool(encoding & _INT_CHAR), bool(encoding & _INT_BOOL), enc & 0xFF,
                       (enc >> 16) & 0xFF))
        elif kind == 7:
            append(Fwd(name, bool(info >> 31)))
        elif kind == 14:
            append(Var(name, size_or_type, u32(raw, pos)[0]))
            pos += 4
        elif kind == 15:
            stop = pos + 12 * vlen
            append(Datasec(name, size_or_type, tuple(
                VarSecInfo(*row) for row in struct.iter_unpack(triples, view[pos:stop]))))
            pos = stop
        elif kind == 16:
            append(Float(name, size_or_type))
        elif kind == 17:
            append(DeclTag(name, size_or_type, i32(raw, pos)[0]))
            pos += 4
        else:
            raise BTFError(f"BTF type {len(btf.types) + len(types)}: unknown kind {kind}")
    if pos != end:
        raise BTFError(f"BTF type {len(btf.types) + len(types) - 1} runs past the end of "
                       f"the type section")
    return types


_INT_SIZES = (1, 2, 4, 8, 16)
# kinds whose one `type` reference says what they are (a name, a size, or both)
_CHAINED = (Typedef, Volatile, Const, Restrict, TypeTag, Ptr, Array, Var)
_SIZED_THROUGH = (Typedef, Volatile, Const, Restrict, TypeTag, Array, Var)


def check_types(btf: BTF, first: int) -> None:
    """BTFError for types from `first` on that no compiler writes: integers of
    impossible sizes, references out of range, and loops (a typedef/pointer/array chain
    back to itself, or a struct that holds itself by value)."""
    types, count = btf.types, len(btf.types)
    for type_id in range(first, count):
        t = types[type_id]
        if isinstance(t, Int) and (t.size not in _INT_SIZES or not 0 < t.bits <= t.size * 8
                                   or t.offset + t.bits > t.size * 8):
            raise BTFError(f"BTF type {type_id} ({t.name or 'int'}): an integer of {t.size} "
                           f"bytes and {t.bits} bits at bit {t.offset} is not possible")
        for ref in _references(t):
            if not 0 <= ref < count:
                raise BTFError(f"BTF type {type_id} refers to type {ref}, which does not "
                               f"exist (ids go from 0 to {count - 1})")
    _no_chain_loops(btf, first)
    _no_size_loops(btf, first)


def _references(t) -> list[int]:
    if isinstance(t, _CHAINED):
        refs = [t.type]
        if isinstance(t, Array):
            refs.append(t.index_type)
        return refs
    if isinstance(t, (Struct, Union)):
        return [m.type for m in t.members]
    if isinstance(t, Datasec):
        return [v.type for v in t.vars]
    if isinstance(t, (Func, DeclTag)):
        return [t.type]
    if isinstance(t, FuncProto):
        return [t.return_type, *(p.type for p in t.params)]
    return []


def _no_chain_loops(btf: BTF, first: int) -> None:
    """Each chained kind has one outgoing reference: walk each chain once."""
    types = btf.types
    state = [0] * len(types)            # 0 new, 1 on the current walk, 2 known good
    for start in range(first, len(types)):
        walk, type_id = [], start
        while state[type_id] == 0 and isinstance(types[type_id], _CHAINED):
            state[type_id] = 1
            walk.append(type_id)
            type_id = types[type_id].type
        if state[type_id] == 1:
            raise BTFError(f"BTF type {type_id} refers to itself through a chain of "
                           "typedefs, qualifiers, pointers or arrays")
        for done in walk:
            state[done] = 2


def _no_size_loops(btf: BTF, first: int) -> None:
    """A struct may point to itself, not contain itself (then it has no size)."""
    types = btf.types
    state = [0] * len(types)

    def inside(t) -> list[int]:
        if isinstance(t, _SIZED_THROUGH):
            return [t.type]
        if isinstance(t, (Struct, Union)):
            return [m.type for m in t.members]
        if isinstance(t, Datasec):
            return [v.type for v in t.vars]
        return []
    for start in range(first, len(types)):
        if state[start]:
            continue
        stack = [(start, iter(inside(types[start])))]
        state[start] = 1
        while stack:
            type_id, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[type_id] = 2
                stack.pop()
            elif state[child] == 1:
                raise BTFError(f"BTF type {child} contains itself (a struct holding itself "
                               "by value has no size)")
            elif state[child] == 0:
                state[child] = 1
                stack.append((child, iter(inside(types[child]))))
