"""A pure-Python reader of the BTF format: the kernel's blob, or the .BTF of an ELF object."""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator

from ..errors import BTFError
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
_HEADER = "HBBIIIII"        # magic, version, flags, hdr_len, type_off/len, str_off/len

_INT_SIGNED, _INT_CHAR, _INT_BOOL = 1, 2, 4
_SIMPLE_REFS = {2: Ptr, 8: Typedef, 9: Volatile, 10: Const, 11: Restrict, 18: TypeTag}


class BTF:
    """Parsed BTF: `btf[type_id]`, `find`, `resolve`, `sizeof`, `c_name`."""

    def __init__(self, types: list, endian: str, base: BTF | None = None):
        self.types = types            # index = type id; base types included, 0 is Void
        self.endian = endian          # "<" or ">"
        self.base = base
        self._by_name: dict[str, list[int]] | None = None
        self._strings = b""
        self._strings_len = 0

    # -- parsing ---------------------------------------------------------------------

    @classmethod
    def parse(cls, raw: bytes, base: BTF | None = None) -> BTF:
        raw = bytes(raw)
        if len(raw) < 24:
            raise BTFError(f"BTF data is {len(raw)} bytes: too short for a header")
        for endian in "<>":
            if struct.unpack_from(endian + "H", raw)[0] == MAGIC:
                break
        else:
            raise BTFError("not BTF data (bad magic)")
        (_, _, _, hdr_len, type_off, type_len, str_off,
         str_len) = struct.unpack_from(endian + _HEADER, raw)
        types_start, strings_start = hdr_len + type_off, hdr_len + str_off
        if strings_start + str_len > len(raw) or types_start + type_len > len(raw):
            raise BTFError("BTF data is truncated")
        strings = raw[strings_start:strings_start + str_len]
        base_strings = base._strings_len if base is not None else 0
        types = list(base.types) if base is not None else [Void()]
        types.extend(_parse_types(raw, types_start, types_start + type_len, endian,
                                  strings, base, base_strings))
        btf = cls(types, endian, base)
        btf._strings = strings
        btf._strings_len = base_strings + str_len
        return btf

    @classmethod
    def from_file(cls, path: str, base: BTF | None = None) -> BTF:
        try:
            with open(path, "rb") as f:
                return cls.parse(f.read(), base)
        except OSError as exc:
            raise BTFError(f"cannot read BTF from {path}: {exc.strerror}") from None

    @classmethod
    def from_elf(cls, elf_bytes: bytes) -> BTF:
        """The .BTF of an ELF object, with DATASEC sizes and offsets filled as libbpf does."""
        from elftools.common.exceptions import ELFError
        from elftools.elf.elffile import ELFFile
        try:
            elf = ELFFile(io.BytesIO(bytes(elf_bytes)))
            section = elf.get_section_by_name(".BTF")
            if section is None:
                raise BTFError("the object has no .BTF section (compile with -g)")
            btf = cls.parse(section.data())
            btf._fixup_datasecs(elf)
        except ELFError as exc:
            raise BTFError(f"not a valid ELF object: {exc}") from None
        return btf

    def _fixup_datasecs(self, elf) -> None:
        symtab = elf.get_section_by_name(".symtab")
        for type_id, t in enumerate(self.types):
            if not isinstance(t, Datasec):
                continue
            section = elf.get_section_by_name(t.name)
            if section is None:
                continue  # .kconfig, .ksyms: no ELF section, libbpf leaves them alone
            index = elf.get_section_index(t.name)
            offsets = {}
            if symtab is not None:
                for sym in symtab.iter_symbols():
                    if sym["st_shndx"] == index and sym.name:
                        offsets[sym.name] = sym["st_value"]
            infos = tuple(VarSecInfo(v.type, offsets.get(self.types[v.type].name, v.offset),
                                     v.size) for v in t.vars)
            self.types[type_id] = Datasec(t.name, t.size or section["sh_size"], infos)

    def _string(self, offset: int) -> str:
        """A name from this BTF's strings (split BTF reads its base's names this way)."""
        if self.base is not None and offset < self.base._strings_len:
            return self.base._string(offset)
        offset -= self.base._strings_len if self.base is not None else 0
        stop = self._strings.find(b"\0", offset)
        return self._strings[offset:stop if stop >= 0 else None].decode("utf-8", "replace")

    # -- lookups ---------------------------------------------------------------------

    def __getitem__(self, type_id: int):
        try:
            return self.types[type_id]
        except IndexError:
            raise BTFError(f"no BTF type with id {type_id}") from None

    def __len__(self) -> int:
        return len(self.types)

    def __iter__(self) -> Iterator:
        return iter(self.types)

    def find_all(self, name: str) -> list[tuple[int, object]]:
        if self._by_name is None:
            by_name: dict[str, list[int]] = {}
            for type_id, t in enumerate(self.types):
                if t.name:
                    by_name.setdefault(t.name, []).append(type_id)
            self._by_name = by_name
        return [(i, self.types[i]) for i in self._by_name.get(name, [])]

    def find(self, name: str, kind=None) -> tuple[int, object]:
        for type_id, t in self.find_all(name):
            if kind is None or isinstance(t, kind):
                return type_id, t
        what = f"{kind.__name__.lower()} " if kind else ""
        raise BTFError(f"no BTF type {what}'{name}'")

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
            return f"{base} *", suffix
        if isinstance(t, (Const, Volatile, Restrict)):
            word = {Const: "const", Volatile: "volatile", Restrict: "restrict"}[type(t)]
            base, suffix = self._c_parts(t.type)
            return f"{word} {base}", suffix
        if isinstance(t, TypeTag):
            return self._c_parts(t.type)
        if isinstance(t, FuncProto):
            params = ", ".join(self.c_name(p.type) for p in t.params) or "void"
            return f"{self.c_name(t.return_type)} (*)({params})", ""
        return t.name or type(t).__name__.lower(), ""


def _parse_types(raw: bytes, pos: int, end: int, endian: str, strings: bytes,
                 base: BTF | None, base_strings: int) -> list:
    u32 = struct.Struct(endian + "I").unpack_from
    head = struct.Struct(endian + "III").unpack_from
    triple = head
    cache: dict[int, str] = {}

    def name_at(offset: int) -> str:
        if base is not None and offset < base_strings:
            return base._string(offset)
        offset -= base_strings
        name = cache.get(offset)
        if name is None:
            stop = strings.find(b"\0", offset)
            name = strings[offset:stop if stop >= 0 else len(strings)].decode("utf-8",
                                                                              "replace")
            cache[offset] = name
        return name

    types = []
    while pos < end:
        name_off, info, size_or_type = head(raw, pos)
        pos += 12
        kind, vlen, kind_flag = (info >> 24) & 0x1F, info & 0xFFFF, info >> 31
        name = name_at(name_off)
        if kind == 1:
            enc = u32(raw, pos)[0]
            pos += 4
            encoding = (enc >> 24) & 0x0F
            t = Int(name, size_or_type, bool(encoding & _INT_SIGNED),
                    bool(encoding & _INT_CHAR), bool(encoding & _INT_BOOL), enc & 0xFF,
                    (enc >> 16) & 0xFF)
        elif kind in _SIMPLE_REFS:
            t = _SIMPLE_REFS[kind](name, size_or_type)
        elif kind == 3:
            elem, index, nelems = triple(raw, pos)
            pos += 12
            t = Array(name, elem, index, nelems)
        elif kind in (4, 5):
            members = []
            for _ in range(vlen):
                m_name, m_type, m_off = triple(raw, pos)
                pos += 12
                if kind_flag:
                    members.append(Member(name_at(m_name), m_type, m_off & 0xFFFFFF,
                                          m_off >> 24))
                else:
                    members.append(Member(name_at(m_name), m_type, m_off))
            t = (Struct if kind == 4 else Union)(name, size_or_type, tuple(members))
        elif kind == 6:
            fmt = struct.Struct(endian + ("Ii" if kind_flag else "II")).unpack_from
            values = []
            for _ in range(vlen):
                v_name, value = fmt(raw, pos)
                pos += 8
                values.append((name_at(v_name), value))
            t = Enum(name, size_or_type, tuple(values), bool(kind_flag))
        elif kind == 19:
            values = []
            for _ in range(vlen):
                v_name, lo, hi = triple(raw, pos)
                pos += 12
                value = (hi << 32) | lo
                if kind_flag and value >= 1 << 63:
                    value -= 1 << 64
                values.append((name_at(v_name), value))
            t = Enum64(name, size_or_type, tuple(values), bool(kind_flag))
        elif kind == 7:
            t = Fwd(name, bool(kind_flag))
        elif kind == 12:
            t = Func(name, size_or_type, vlen)
        elif kind == 13:
            params = []
            for _ in range(vlen):
                p_name, p_type = struct.unpack_from(endian + "II", raw, pos)
                pos += 8
                params.append(Param(name_at(p_name), p_type))
            t = FuncProto(name, size_or_type, tuple(params))
        elif kind == 14:
            linkage = u32(raw, pos)[0]
            pos += 4
            t = Var(name, size_or_type, linkage)
        elif kind == 15:
            infos = []
            for _ in range(vlen):
                infos.append(VarSecInfo(*triple(raw, pos)))
                pos += 12
            t = Datasec(name, size_or_type, tuple(infos))
        elif kind == 16:
            t = Float(name, size_or_type)
        elif kind == 17:
            component = struct.unpack_from(endian + "i", raw, pos)[0]
            pos += 4
            t = DeclTag(name, size_or_type, component)
        else:
            raise BTFError(f"BTF type {len(types) + 1}: unknown kind {kind}")
        types.append(t)
    return types

