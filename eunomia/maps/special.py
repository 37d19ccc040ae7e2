"""Map types with their own shape: LPM tries, queues and stacks, program arrays, stacks."""

from __future__ import annotations

import ipaddress
import itertools
import struct
from collections.abc import Iterator
from typing import NamedTuple

from ..errors import MapError
from .base import HashMap, TypedMap

BPF_EXIST = 2                   # update flag: queue/stack push that overwrites the oldest
_U32 = struct.Struct("=I")
_U64 = struct.Struct("=Q")


class LpmKey(NamedTuple):
    """An LPM trie key: a prefix length in bits and the address bytes it applies to."""

    prefixlen: int
    data: bytes

    @property
    def address(self):
        """The data as an ipaddress object (for 4- and 16-byte keys)."""
        return ipaddress.ip_address(self.data)

    @property
    def network(self):
        """The data and prefix as an ipaddress network (for 4- and 16-byte keys)."""
        return ipaddress.ip_network((self.data, self.prefixlen), strict=False)


class LpmTrieMap(HashMap):
    """lpm_trie: keys are (prefixlen, address), a lookup finds the longest matching prefix.

        routes["10.0.0.0/8"] = 1                      # a network as text
        routes[(24, b"\\x0a\\x01\\x02\\x00")] = 2       # or prefixlen and bytes
        routes[(32, "10.1.2.3")]                      # -> 2, the longest match
    The key struct is the kernel's: a u32 prefix length, then the data bytes.
    """

    def encode_key(self, key) -> bytes:
        size = self.raw.key_size - 4
        if isinstance(key, str) and "/" in key:
            net = _network(key, self.name)
            key = (net.prefixlen, net.network_address.packed)
        elif isinstance(key, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
            key = (key.prefixlen, key.network_address.packed)
        if isinstance(key, dict):
            return super().encode_key(key)
        if not (isinstance(key, tuple) and len(key) == 2):
            raise MapError(f"map '{self.name}': an LPM key is (prefixlen, address) or "
                           f"'addr/len', not {key!r}")
        prefixlen, data = key
        if isinstance(data, (str, ipaddress.IPv4Address, ipaddress.IPv6Address)):
            data = _address(data, self.name).packed
        data = bytes(data)
        if len(data) > size or not 0 <= prefixlen <= size * 8:
            raise MapError(f"map '{self.name}': key {key!r} does not fit {size} data bytes")
        return _U32.pack(prefixlen) + data.ljust(size, b"\0")

    def decode_key(self, raw: bytes) -> LpmKey:
        return LpmKey(_U32.unpack_from(raw)[0], bytes(raw[4:]))


def _network(text: str, map_name: str):
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise MapError(f"map '{map_name}': {exc}") from None


def _address(value, map_name: str):
    try:
        return ipaddress.ip_address(value)
    except ValueError as exc:
        raise MapError(f"map '{map_name}': {exc}") from None


class QueueMap(TypedMap):
    """queue (FIFO) and stack (LIFO) maps: push, pop and peek values; no keys."""

    def push(self, value, overwrite: bool = False) -> None:
        """Adds a value; a full map raises MapError unless `overwrite` drops the oldest."""
        self.raw.update(None, self.encode_value(value), BPF_EXIST if overwrite else 0)

    def pop(self):
        """Removes and returns the next value; KeyError when empty."""
        raw = self.raw.lookup_and_delete(None)
        if raw is None:
            raise KeyError(f"map '{self.name}' is empty")
        return self.decode_value(raw)

    def peek(self):
        """The next value without removing it; KeyError when empty."""
        raw = self.raw.lookup(None)
        if raw is None:
            raise KeyError(f"map '{self.name}' is empty")
        return self.decode_value(raw)

    def clear(self) -> None:
        while self.raw.lookup_and_delete(None) is not None:
            pass

    def __iter__(self) -> Iterator:
        """Pops values until the map is empty."""
        while True:
            raw = self.raw.lookup_and_delete(None)
            if raw is None:
                return
            yield self.decode_value(raw)


class ProgArrayMap(HashMap):
    """prog_array: tail-call targets. `m[0] = "handler"` stores the package's program
    `handler`; reading gives the program's name (or its kernel id when not ours)."""

    def __init__(self, bpf_map, btf, programs=None, **context):
        super().__init__(bpf_map, btf, **context)
        self._programs = programs or {}

    def encode_value(self, value) -> bytes:
        program = self._programs.get(value) if isinstance(value, str) else value
        if program is None:
            known = ", ".join(self._programs) or "none"
            raise MapError(f"map '{self.name}': no program '{value}' (programs: {known})")
        fd = getattr(program, "fd", program)
        if not isinstance(fd, int) or fd < 0:
            raise MapError(f"map '{self.name}': program '{value}' is not loaded")
        return _U32.pack(fd)

    def decode_value(self, raw: bytes):
        prog_id = _U32.unpack_from(raw)[0]
        for name, program in self._programs.items():
            if program.fd >= 0 and program.info()["id"] == prog_id:
                return name
        return prog_id

    def __contains__(self, key) -> bool:
        return self.raw.lookup(self.encode_key(key)) is not None

    def __iter__(self) -> Iterator[int]:
        """Indexes that hold a program."""
        for index in range(self.max_entries):
            if self.raw.lookup(self.encode_key(index)) is not None:
                yield index

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def items(self, limit: int | None = None) -> list:
        return [(index, self[index]) for index in itertools.islice(self, limit)]

    def values(self) -> list:
        return [self[index] for index in self]

    def clear(self) -> None:
        for index in list(self):
            del self[index]

    def pop_items(self) -> list:
        items = self.items()
        self.clear()
        return items

    def update(self, other=(), /, **kwargs) -> None:
        entries = other.items() if hasattr(other, "items") else other
        for key, value in [*entries, *kwargs.items()]:
            self[key] = value


class StackTraceMap(HashMap):
    """stack_trace: stack id -> addresses. `walk(stack_id)` (and `m[stack_id]`) give the
    return addresses innermost first; eunomia.symbols turns them into names."""

    def decode_key(self, raw: bytes) -> int:
        return _U32.unpack_from(raw)[0]

    def encode_key(self, key) -> bytes:
        if not isinstance(key, int) or key < 0:
            raise MapError(f"map '{self.name}': a stack id is a non-negative int, not "
                           f"{key!r} (a negative id from bpf_get_stackid is an error "
                           "code: -EEXIST, -EFAULT, -ENOMEM)")
        return _U32.pack(key)

    def decode_value(self, raw: bytes) -> list[int]:
        addresses = []
        for (address,) in _U64.iter_unpack(raw[:len(raw) // 8 * 8]):
            if address == 0:
                break
            addresses.append(address)
        return addresses

    def encode_value(self, value) -> bytes:
        raise MapError(f"map '{self.name}': stack traces are written by the kernel only")

    def walk(self, stack_id: int) -> list[int]:
        """The addresses of stack `stack_id`; KeyError when the map holds no such id."""
        return self[stack_id]
