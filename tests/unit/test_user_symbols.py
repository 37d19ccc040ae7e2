"""User-space symbols from files a process maps: any process can map a file of its own
making, so the reader takes regular files only and bounds the tables it reads."""

from __future__ import annotations

import os
import struct

import pytest

from eunomia.symbols.user import MAX_TABLE_BYTES, elf_symbols

BASE = 0x400000


def _elf(path, symtab_bytes: int | None = None) -> None:
    """A minimal x86-64 executable: one PT_LOAD, a .symtab naming `main` at BASE+0x1000
    (or claiming `symtab_bytes` of table: a sparse file, nothing written there)."""
    shstr, strtab = b"\0.shstrtab\0.symtab\0.strtab\0", b"\0main\0"
    shstr_off, strtab_off, shoff, sym_off = 0x2000, 0x2100, 0x2800, 0x3000
    symbols = struct.pack("<IBBHQQ", 0, 0, 0, 0, 0, 0) + \
        struct.pack("<IBBHQQ", 1, 0x12, 0, 1, BASE + 0x1000, 2)     # GLOBAL FUNC main
    size = symtab_bytes if symtab_bytes is not None else len(symbols)
    ehdr = struct.pack("<4sBBBBB7sHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0, 0, b"\0" * 7,
                       2, 0x3e, 1, BASE + 0x1000, 64, shoff, 0, 64, 56, 1, 64, 4, 1)
    phdr = struct.pack("<IIQQQQQQ", 1, 5, 0, BASE, BASE, 0x1002, 0x1002, 0x1000)

    def section(name, kind, offset, length, link=0, entsize=0):
        return struct.pack("<IIQQQQIIQQ", name, kind, 0, 0, offset, length, link, 0, 1,
                           entsize)
    headers = section(0, 0, 0, 0) + section(1, 3, shstr_off, len(shstr)) + \
        section(11, 2, sym_off, size, link=3, entsize=24) + \
        section(19, 3, strtab_off, len(strtab))
    with open(path, "wb") as f:
        f.write(ehdr + phdr)
        for offset, data in ((0x1000, b"\xeb\xfe"), (shstr_off, shstr), (strtab_off, strtab),
                             (shoff, headers)):
            f.seek(offset)
            f.write(data)
        f.seek(sym_off)
        if symtab_bytes is None:
            f.write(symbols)
        f.truncate(sym_off + size)


def test_function_symbols_are_read(tmp_path):
    _elf(tmp_path / "small")
    symbols = elf_symbols(str(tmp_path / "small"))
    assert symbols.resolve(BASE + 0x1001) == ("main", 1)


def test_a_table_of_gigabytes_in_a_sparse_file_is_not_read(tmp_path):
    """Read symbol by symbol, a 1 GiB table took about 20 minutes; it is skipped."""
    _elf(tmp_path / "huge", symtab_bytes=(1 << 30) // 24 * 24)
    assert (1 << 30) > MAX_TABLE_BYTES
    assert elf_symbols(str(tmp_path / "huge")).addresses == []


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        elf_symbols(str(fifo))
