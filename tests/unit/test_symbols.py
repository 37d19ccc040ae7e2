"""User-space symbols of a live process: a program built here (PIE and not), its own
function resolved from the address it prints; the interpreter's libraries via ctypes."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from eunomia.errors import SymbolError
from eunomia.symbols import UserSymbols, frames
from eunomia.symbols.user import ElfSymbols

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "symbols_target.c"


@pytest.fixture(params=["-pie", "-no-pie"])
def target(request, tmp_path):
    """A running fixture program, and the address of its function."""
    if shutil.which("gcc") is None:
        pytest.skip("building the target needs gcc")
    binary = tmp_path / f"target{request.param}"
    subprocess.run(["gcc", "-O1", request.param, "-fPIE" if request.param == "-pie" else
                    "-fno-pie", "-o", str(binary), str(FIXTURE)], check=True, timeout=60)
    proc = subprocess.Popen([str(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        address = int(proc.stdout.readline(), 16)
        yield proc.pid, address, binary.name
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)


def test_function_of_a_live_process(target):
    pid, address, name = target
    usyms = UserSymbols(pid)
    symbol = usyms.resolve(address + 4)
    assert (symbol.name, symbol.offset, symbol.module) == ("eunomia_target_function", 4, name)
    assert usyms.format(address) == f"eunomia_target_function+0x0 [{name}]"


def test_shared_library_functions_of_this_process():
    usyms = UserSymbols(os.getpid())
    libc_getpid = ctypes.cast(ctypes.CDLL(None).getpid, ctypes.c_void_p).value
    symbol = usyms.resolve(libc_getpid)
    assert symbol.name.endswith("getpid") and symbol.module.startswith("libc")
    api = ctypes.cast(ctypes.pythonapi.PyObject_GetAttr, ctypes.c_void_p).value
    assert usyms.format(api + 2).startswith("PyObject_GetAttr+0x2 [")


def test_unmapped_and_gone():
    usyms = UserSymbols(os.getpid())
    assert usyms.resolve(16) is None and usyms.format(16) == "0x10"
    assert [str(f) for f in frames([16], pid=os.getpid())] == ["0x10"]
    child = subprocess.Popen(["true"])
    child.wait()
    with pytest.raises(SymbolError, match=f"process {child.pid} does not exist"):
        UserSymbols(child.pid)


def test_load_bias_uses_the_segment_that_maps_the_offset():
    symbols = ElfSymbols([0x1100, 0x1200], ["a", "b"],
                         [(0, 0x800, 0), (0x1000, 0x400, 0x1000)])
    assert symbols.vaddr(0x1150) == 0x1150 and symbols.resolve(0x1250) == ("b", 0x50)
    shifted = ElfSymbols([0x401100], ["main"], [(0x1000, 0x400, 0x401000)])
    assert shifted.resolve(shifted.vaddr(0x1104)) == ("main", 4)
    assert shifted.vaddr(0x9000) is None
