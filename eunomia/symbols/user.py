"""User-space addresses of a process to `symbol+offset [library]`, from the ELF symbol
tables (.symtab, else .dynsym) of the files it has mapped."""

from __future__ import annotations

import bisect
import errno
import functools
import os
import stat
import struct
from typing import NamedTuple

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from ..errors import SymbolError
from .symbol import Symbol


class Mapping(NamedTuple):
    start: int
    end: int
    offset: int
    path: str            # "" for anonymous memory, "[vdso]" and the like for special ones
    inode: int


class ElfSymbols(NamedTuple):
    """The function symbols of one ELF file, and how file offsets map to its addresses."""

    addresses: list[int]
    names: list[str]
    loads: list[tuple[int, int, int]]       # (p_offset, p_filesz, p_vaddr) of PT_LOAD

    def vaddr(self, file_offset: int) -> int | None:
        for p_offset, p_filesz, p_vaddr in self.loads:
            if p_offset <= file_offset < p_offset + max(p_filesz, 1):
                return file_offset - p_offset + p_vaddr
        return None

    def resolve(self, vaddr: int) -> tuple[str, int] | None:
        i = bisect.bisect_right(self.addresses, vaddr) - 1
        return (self.names[i], vaddr - self.addresses[i]) if i >= 0 else None


def read_maps(pid: int) -> list[Mapping]:
    """The executable mappings of `pid`, from /proc/PID/maps."""
    try:
        with open(f"/proc/{pid}/maps") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        raise SymbolError(f"process {pid} does not exist (it may have exited)") from None
    except OSError as exc:
        raise SymbolError(f"cannot read /proc/{pid}/maps: {exc.strerror}") from None
    mappings = []
    for line in lines:
        parts = line.split(maxsplit=5)
        if len(parts) < 5 or "x" not in parts[1]:
            continue
        start, end = (int(x, 16) for x in parts[0].split("-"))
        path = parts[5] if len(parts) > 5 else ""
        mappings.append(Mapping(start, end, int(parts[2], 16), path, int(parts[4])))
    return mappings


MAX_TABLE_BYTES = 128 << 20     # a symbol or string table larger is not read
_FUNCTION_TYPES = (2, 10)       # STT_FUNC, STT_GNU_IFUNC


@functools.lru_cache(maxsize=256)
def _elf_symbols(path: str, inode: int, mtime_ns: int) -> ElfSymbols:
    """Parsed once per file version (path, inode, mtime). Any process can map a file of
    its making, so: regular files only (a FIFO would block the open), and tables of at
    most MAX_TABLE_BYTES (a sparse file can claim a table of gigabytes)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with open(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        elf = ELFFile(f)
        loads = [(seg["p_offset"], seg["p_filesz"], seg["p_vaddr"])
                 for seg in elf.iter_segments() if seg["p_type"] == "PT_LOAD"]
        found: dict[int, str] = {}
        for section_name in (".symtab", ".dynsym"):
            table = elf.get_section_by_name(section_name)
            if table is not None:
                _function_symbols(elf, table, found)
    ordered = sorted(found.items())
    return ElfSymbols([a for a, _ in ordered], [n for _, n in ordered], loads)


def _function_symbols(elf: ELFFile, table, found: dict[int, str]) -> None:
    """The named functions of a symbol table into `found` (address -> name), read with
    one struct pass over the table (pyelftools' object per symbol is ~50x slower)."""
    if table["sh_entsize"] not in (16, 24) or table["sh_size"] > MAX_TABLE_BYTES:
        return
    if not 0 < table["sh_link"] < elf.num_sections():
        return
    names = elf.get_section(table["sh_link"])
    if names["sh_size"] > MAX_TABLE_BYTES:
        return
    strings = names.data()
    endian = "<" if elf.little_endian else ">"
    if elf.elfclass == 64:          # st_name, st_info, st_other, st_shndx, st_value, st_size
        layout, name_at, info_at, value_at = f"{endian}IBBHQQ", 0, 1, 4
    else:                           # st_name, st_value, st_size, st_info, st_other, st_shndx
        layout, name_at, info_at, value_at = f"{endian}IIIBBH", 0, 3, 1
    data = table.data()
    data = data[:len(data) - len(data) % struct.calcsize(layout)]
    for sym in struct.iter_unpack(layout, data):
        value, name = sym[value_at], sym[name_at]
        if sym[info_at] & 0xF in _FUNCTION_TYPES and value and name and value not in found:
            end = strings.find(b"\0", name)
            if end > name:
                found[value] = strings[name:end].decode("utf-8", "replace")


def elf_symbols(path: str) -> ElfSymbols:
    info = os.stat(path)
    return _elf_symbols(path, info.st_ino, info.st_mtime_ns)


class UserSymbols:
    """Resolves addresses in one process (its mappings are read once; call refresh()
    after it loads more libraries).

        usyms = UserSymbols(pid)
        usyms.format(addr)        # 'malloc+0x24 [libc.so.6]'
    """

    def __init__(self, pid: int):
        self.pid = pid
        self.refresh()

    def refresh(self) -> None:
        self._mappings = read_maps(self.pid)
        self._starts = [m.start for m in self._mappings]

    def mapping_of(self, address: int) -> Mapping | None:
        i = bisect.bisect_right(self._starts, address) - 1
        if i >= 0 and address < self._mappings[i].end:
            return self._mappings[i]
        return None

    def _file_of(self, mapping: Mapping) -> str | None:
        """A readable path to the mapped file, also when it was deleted or lives in
        another mount namespace."""
        candidates = [f"/proc/{self.pid}/map_files/{mapping.start:x}-{mapping.end:x}",
                      f"/proc/{self.pid}/root{mapping.path}", mapping.path]
        for path in candidates:
            if os.access(path, os.R_OK):
                return path
        return None

    def resolve(self, address: int) -> Symbol | None:
        """The function holding `address` (module: the file's basename), or None when no
        file mapping covers it."""
        mapping = self.mapping_of(address)
        if mapping is None or not mapping.path.startswith("/"):
            return None
        module = os.path.basename(mapping.path.replace(" (deleted)", ""))
        path = self._file_of(mapping)
        if path is None:
            return Symbol("[unknown]", address - mapping.start, module)
        try:
            symbols = elf_symbols(path)
        except (OSError, ELFError):
            return Symbol("[unknown]", address - mapping.start, module)
        vaddr = symbols.vaddr(address - mapping.start + mapping.offset)
        found = symbols.resolve(vaddr) if vaddr is not None else None
        if found is None:
            return Symbol("[unknown]", address - mapping.start, module)
        return Symbol(found[0], found[1], module)

    def format(self, address: int) -> str:
        """`name+0x1f [libc.so.6]`, `[unknown] [file]`, or the address in hex."""
        symbol = self.resolve(address)
        if symbol is None:
            return f"0x{address:x}"
        if symbol.name == "[unknown]":
            return f"[unknown] [{symbol.module}]"
        return symbol.format()
