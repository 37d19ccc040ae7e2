"""Guest memory, bounds-checked: every pointer and length a Wasm guest passes is checked
against its linear memory before a byte is read or written. A bad one raises GuestFault,
which ends the guest with a trap that says which call and which pointer."""

from __future__ import annotations

from ..errors import EunomiaError

MAX_STRING = 4096       # bytes of a NUL-terminated name read at most


class GuestFault(EunomiaError):
    """A guest passed a pointer or length outside its memory (the guest traps)."""


class GuestMemory:
    """The guest's exported `memory`, through the wasmtime store or caller `context`."""

    def __init__(self, memory, context, call: str):
        self._memory = memory
        self._context = context
        self._call = call

    def _check(self, pointer: int, length: int, what: str) -> int:
        pointer &= 0xFFFFFFFF
        size = self._memory.data_len(self._context)
        if length < 0 or pointer + length > size:
            raise GuestFault(f"{self._call}: {what} at 0x{pointer:x} (+{length} bytes) is "
                             f"outside the guest's memory ({size} bytes)")
        return pointer

    def read(self, pointer: int, length: int, what: str) -> bytes:
        start = self._check(pointer, length, what)
        return bytes(self._memory.read(self._context, start, start + length))

    def write(self, pointer: int, data: bytes, what: str) -> None:
        start = self._check(pointer, len(data), what)
        self._memory.write(self._context, data, start)

    def string(self, pointer: int, what: str) -> str:
        """A NUL-terminated UTF-8 name at `pointer`."""
        start = self._check(pointer, 1, what)
        end = min(start + MAX_STRING, self._memory.data_len(self._context))
        raw = bytes(self._memory.read(self._context, start, end))
        text, nul, _ = raw.partition(b"\0")
        if not nul:
            raise GuestFault(f"{self._call}: {what} at 0x{start:x} has no NUL within "
                             f"{MAX_STRING} bytes")
        try:
            return text.decode()
        except UnicodeDecodeError:
            raise GuestFault(f"{self._call}: {what} at 0x{start:x} is not UTF-8") from None
