"""A Wasm module from someone else (a server's client, a fleet entry) is compiled in a
child process first, with the package check's time and memory bounds: a module can be
made to take minutes and gigabytes to compile (many functions with many live locals)."""

from __future__ import annotations

import pytest

from eunomia.errors import PackageError
from eunomia.runtime.untrusted import check_untrusted
from eunomia.wasm import check_module


def _leb(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _vec(items: list[bytes]) -> bytes:
    return _leb(len(items)) + b"".join(items)


def _section(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + _leb(len(body)) + body


def slow_module(functions: int, locals_each: int) -> bytes:
    """`functions` functions, each with `locals_each` i32 locals, the last one used."""
    body = _vec([_leb(locals_each) + b"\x7f"]) + b"\x20" + _leb(locals_each - 1) + b"\x1a\x0b"
    code = _leb(len(body)) + body
    return (b"\0asm\x01\0\0\0" + _section(1, _vec([b"\x60\x00\x00"]))
            + _section(3, _vec([b"\x00"] * functions))
            + _section(7, _vec([b"\x06_start\x00\x00"]))
            + _section(10, _vec([code] * functions)))


def test_a_module_that_compiles_is_accepted():
    check_untrusted(slow_module(2, 2), check=check_module)


def test_a_module_slow_to_compile_costs_the_child_not_the_service():
    # ~33 s of compiling in one process (measured); the child is given 1 s here
    with pytest.raises(PackageError, match="did not end within 1 s"):
        check_untrusted(slow_module(10_000, 50_000), seconds=1, check=check_module)


def test_a_module_that_is_not_one_is_one_line():
    with pytest.raises(PackageError, match="not a valid Wasm module"):
        check_untrusted(b"\0asm\x01\0\0\0" + b"\xff" * 40, check=check_module)


def test_a_finished_run_lets_its_guest_memory_go():
    """A server keeps 64 stopped tasks: each kept its guest's store (memory, compiled
    code) until forgotten."""
    from eunomia.wasm import WasmRun
    run = WasmRun(slow_module(1, 1), [])
    assert run.run().exit_code == 0
    assert run._store is None and run._module is None and run._engine is None
