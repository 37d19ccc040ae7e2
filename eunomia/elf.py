"""The little of ELF that loading a package needs: sections by name and the symbol
table, read with struct from a relocatable BPF object (64-bit, either byte order).

pyelftools does this and much more, but importing it costs about 35 ms, a quarter of
`ecli run`'s start-up; the user-space symbolizer still uses it."""

from __future__ import annotations

import struct

from .errors import PackageError
from .valueclass import valueclass

SHT_NOBITS, SHT_SYMTAB = 8, 2
MAX_NOBITS_BYTES = 1 << 28      # a .bss larger than this is a broken object, not a program
SHF_EXECINSTR = 0x4
STT_OBJECT, STT_FUNC = 1, 2
STB_GLOBAL, STB_WEAK = 1, 2
STV_HIDDEN, STV_INTERNAL = 2, 1


class ElfFormatError(PackageError, ValueError):
    """Not an ELF object this reader understands (a ValueError too, for older callers)."""


@valueclass(frozen=True)
class Section:
    """A section header of the object."""

    name: str
    type: int
    flags: int
    offset: int
    size: int
    link: int
    entsize: int


@valueclass(frozen=True)
class ElfSymbol:
    """A symbol of the object's symbol table."""

    name: str
    value: int
    size: int
    type: int          # STT_*
    bind: int          # STB_*
    visibility: int    # STV_*
    section: int


class Elf:
    """Sections and symbols of an ELF64 object held in memory."""

    def __init__(self, data: bytes):
        if len(data) < 64 or data[:4] != b"\x7fELF":
            raise ElfFormatError("not an ELF file")
        if data[4] != 2:
            raise ElfFormatError("not a 64-bit ELF object")
        self.endian = "<" if data[5] == 1 else ">"
        self.data = data
        e = self.endian
        shoff, = struct.unpack_from(e + "Q", data, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from(e + "HHH", data, 0x3A)
        if shoff + shnum * shentsize > len(data) or (shnum and shentsize < 64):
            raise ElfFormatError("section headers lie outside the file")
        raw = [struct.unpack_from(e + "IIQQQQIIQQ", data, shoff + i * shentsize)
               for i in range(shnum)]
        if shstrndx >= len(raw):
            raise ElfFormatError("bad section name table index")
        names_at = raw[shstrndx][4]
        self.sections = [Section(self._string(names_at, h[0]), h[1], h[2], h[4], h[5], h[6],
                                 h[9]) for h in raw]
        self._by_name = {}
        for section in self.sections:
            self._by_name.setdefault(section.name, section)

    def _string(self, table_offset: int, offset: int) -> str:
        start = table_offset + offset
        end = self.data.find(b"\0", start)
        if end < 0:
            raise ElfFormatError("unterminated string in a string table")
        return self.data[start:end].decode("utf-8", "replace")

    def section(self, name: str) -> Section | None:
        return self._by_name.get(name)

    def section_data(self, section: Section) -> bytes:
        if section.type == SHT_NOBITS:
            if section.size > MAX_NOBITS_BYTES:
                raise ElfFormatError(f"section {section.name} claims {section.size} bytes")
            return bytes(section.size)
        if section.offset + section.size > len(self.data):
            raise ElfFormatError(f"section {section.name} lies outside the file")
        return self.data[section.offset:section.offset + section.size]

    def symbols(self) -> list[ElfSymbol]:
        """The entries of .symtab (empty without one)."""
        symtab = next((s for s in self.sections if s.type == SHT_SYMTAB), None)
        if symtab is None:
            return []
        if symtab.link >= len(self.sections) or \
                symtab.offset + symtab.size > len(self.data) or symtab.entsize not in (0, 24):
            raise ElfFormatError("the symbol table or its string table lies outside the file")
        names_at = self.sections[symtab.link].offset
        layout = struct.Struct(self.endian + "IBBHQQ")
        result = []
        for start in range(symtab.offset, symtab.offset + symtab.size - 23, 24):
            name, info, other, shndx, value, size = layout.unpack_from(self.data, start)
            result.append(ElfSymbol(self._string(names_at, name), value, size, info & 0xF,
                                    info >> 4, other & 0x3, shndx))
        return result
