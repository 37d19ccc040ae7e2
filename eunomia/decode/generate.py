"""A struct's decode function, written out as Python source once per type and compiled.

For `struct event { int pid; char comm[16]; enum kind kind; struct inner in; u32 bf:3; }`
it produces, in effect:

    def decode(buf, offset=0):
        v = unpack_from(buf, offset)      # one struct.Struct for every plain member,
                                          # nested plain structs included; checks length
        return Record({"pid": v[0], "comm": text(v[1]), "kind": enum_2(v[2]),
                       "in": Record({"s": v[3], "tag": v[4]}), "bf": bits_3(buf, offset + 28)})

so a decode is one unpack plus one dict display: no per-field loop (the same technique
as dataclasses' generated __init__). Names are emitted with repr() and every helper is
passed in the namespace, so no text from the BTF is ever executed as code.
"""

from __future__ import annotations

import struct

from ..errors import DecodeError
from .codecs import CharArrayCodec, EnumCodec, RecordCodec, _bit_reader, _plain_code
from .record import Record


class _Writer:
    """Collects the struct format and the expression of each member, in offset order."""

    def __init__(self, endian: str):
        self.endian = endian
        self.fmt = [endian]
        self.pos = 0            # bytes covered by the format so far
        self.count = 0          # values the format unpacks so far
        self.env: dict = {"Record": Record, "text": CharArrayCodec.text}

    def helper(self, prefix: str, obj) -> str:
        name = f"{prefix}_{len(self.env)}"
        self.env[name] = obj
        return name

    def take(self, code: str, offset: int, size: int, values: int) -> int:
        """Adds `code` at `offset`; returns the index of its first value."""
        self.pad_to(offset)
        self.fmt.append(code)
        self.pos = offset + size
        index, self.count = self.count, self.count + values
        return index

    def member(self, codec, offset: int, bitfield) -> str:
        if bitfield is not None:
            reader = _bit_reader(codec, offset, *bitfield, self.endian)
            return f"{self.helper('bits', reader)}(buf, offset + {offset})"
        if offset < self.pos:         # overlaps what the format already read: read alone
            return f"{self.helper('read', codec.decode)}(buf, offset + {offset})"
        if isinstance(codec, RecordCodec) and not codec.union:
            return self.record(codec, offset)
        code, count = _plain_code(codec)
        if code is None:
            return f"{self.helper('read', codec.decode)}(buf, offset + {offset})"
        i = self.take(code, offset, codec.size, count or 1)
        if count:
            return f"list(v[{i}:{i + count}])"
        if isinstance(codec, CharArrayCodec):
            return f"text(v[{i}])"
        if isinstance(codec, EnumCodec):
            return f"{self.helper('enum', codec.name_of)}(v[{i}])"
        return f"v[{i}]"

    def record(self, codec, base: int) -> str:
        items = ", ".join(f"{name!r}: {self.member(member, base + offset, bitfield)}"
                          for name, _, member, offset, bitfield in codec._members)
        self.pad_to(base + codec.size)       # trailing padding: the unpack checks size
        return f"Record({{{items}}})"

    def pad_to(self, end: int) -> None:
        if end > self.pos:
            self.fmt.append(f"{end - self.pos}x")
            self.pos = end


def struct_decoder(codec):
    """decode(buf, offset=0) -> Record for a (non-union) RecordCodec."""
    writer = _Writer(codec._endian)
    body = writer.record(codec, 0)
    layout = struct.Struct("".join(writer.fmt))
    env = writer.env
    env.update(unpack_from=layout.unpack_from, error=struct.error, short=_short_for(codec))
    source = ("def decode(buf, offset=0):\n"
              "    try:\n"
              "        v = unpack_from(buf, offset)\n"
              "    except error:\n"
              "        raise short(buf, offset) from None\n"
              f"    return {body}\n")
    exec(compile(source, f"<decode {codec.c_type}>", "exec"), env)  # noqa: S102
    return env["decode"]


def _short_for(codec):
    def short(buf, offset):
        return DecodeError(f"{len(buf) - offset} bytes given for {codec.c_type} "
                           f"({codec.size} bytes)")
    return short
