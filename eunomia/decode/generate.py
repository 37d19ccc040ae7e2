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
from .codecs import (
    ArrayCodec,
    CharArrayCodec,
    EnumCodec,
    IntCodec,
    RecordCodec,
    _bit_reader,
    _bit_signed,
    _plain_code,
    enum_bitfield_name,
)
from .record import Record

_UNIT_CODES = {1: "B", 2: "H", 4: "I", 8: "Q"}
_INLINE_ITEMS = 32           # longer arrays of non-numbers keep their own decode
# Members written into one decoder before nested structs are read by their own (each
# struct type has one, generated once): a struct DAG then costs its size, not its paths
_INLINE_BUDGET = 2048


def _low_byte(member, base: int) -> int:
    return base + member[3] + member[4][0] // 8


def _word_groups(run: list, base: int) -> list[list]:
    """Adjacent bitfields split greedily into groups each within 8 bytes."""
    groups, low = [], None
    for member in run:
        offset, (bit, bits) = member[3], member[4]
        start, end = (base + offset) * 8 + bit, (base + offset) * 8 + bit + bits
        if groups and (end + 7) // 8 - low <= 8:
            groups[-1].append(member)
        else:
            groups.append([member])
            low = start // 8
    return groups


class _Writer:
    """Collects the struct format and the expression of each member, in offset order."""

    def __init__(self, endian: str):
        self.endian = endian
        self.fmt = [endian]
        self.pos = 0            # bytes covered by the format so far
        self.count = 0          # values the format unpacks so far
        self.env: dict = {"Record": Record, "text": CharArrayCodec.text}
        self.members = 0        # member expressions written so far

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
        self.members += 1
        if bitfield is not None:
            reader = _bit_reader(codec, *bitfield, self.endian)
            return f"{self.helper('bits', reader)}(buf, offset + {offset})"
        if offset < self.pos or (self.members > _INLINE_BUDGET and
                                 isinstance(codec, (RecordCodec, ArrayCodec))):
            # overlaps what the format already read, or past the budget: read alone
            return f"{self.helper('read', codec.decode)}(buf, offset + {offset})"
        if isinstance(codec, RecordCodec) and not codec.union:
            return self.record(codec, offset)
        if isinstance(codec, ArrayCodec) and codec._struct is None and \
                0 < codec.count <= _INLINE_ITEMS:     # 2-D arrays, arrays of structs, ...
            step = codec.elem.size
            return "[" + ", ".join(self.member(codec.elem, offset + k * step, None)
                                   for k in range(codec.count)) + "]"
        if isinstance(codec, IntCodec) and codec.size == 16:    # __int128: two halves
            high = "q" if codec.signed else "Q"     # the signed half carries the sign
            if self.endian == "<":
                i = self.take("Q" + high, offset, 16, 2)
                return f"(v[{i}] | v[{i + 1}] << 64)"
            i = self.take(high + "Q", offset, 16, 2)
            return f"(v[{i}] << 64 | v[{i + 1}])"
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
        members, items, k = codec._members, [], 0
        while k < len(members):
            name, _, member, offset, bitfield = members[k]
            if bitfield is None:
                items.append(f"{name!r}: {self.member(member, base + offset, None)}")
                k += 1
                continue
            stop = k
            while stop < len(members) and members[stop][4] is not None:
                stop += 1
            limit = base + (members[stop][3] if stop < len(members) else codec.size)
            groups = _word_groups(members[k:stop], base)
            for g, group in enumerate(groups):
                group_limit = _low_byte(groups[g + 1][0], base) if g + 1 < len(groups) \
                    else limit
                items.extend(self.bitfields(group, base, group_limit))
            k = stop
        self.pad_to(base + codec.size)       # trailing padding: the unpack checks size
        return f"Record({{{', '.join(items)}}})"

    def bitfields(self, run: list, base: int, limit: int) -> list[str]:
        """Adjacent bitfields read as one 1/2/4/8-byte word of the unpack when they fit in
        one that ends before `limit` (the next member); else each by its own reader."""
        spans = [((base + offset) * 8 + bit, bits) for _, _, _, offset, (bit, bits) in run]
        low = min(start for start, _ in spans) // 8
        high = (max(start + bits for start, bits in spans) + 7) // 8
        unit = next((u for u in (1, 2, 4, 8) if u >= high - low and low + u <= limit), None)
        if unit is None or low < self.pos:
            return [f"{name!r}: {self.member(codec, base + offset, bitfield)}"
                    for name, _, codec, offset, bitfield in run]
        i = self.take(_UNIT_CODES[unit], low, unit, 1)
        items = []
        for (name, _, codec, _, _), (start, bits) in zip(run, spans):
            relative = start - low * 8
            shift = relative if self.endian == "<" else unit * 8 - relative - bits
            value = f"(v[{i}] >> {shift} & {(1 << bits) - 1})"
            if _bit_signed(codec):
                sign = 1 << (bits - 1)
                value = f"(({value} ^ {sign}) - {sign})"
            if getattr(codec, "is_bool", False):
                value = f"bool({value})"
            elif isinstance(codec, EnumCodec):
                value = f"{self.helper('enum', enum_bitfield_name(codec, bits))}({value})"
            items.append(f"{name!r}: {value}")
        return items

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
    decode = env["decode"]
    decode.source = source          # for debugging: what was generated
    return decode


def _short_for(codec):
    def short(buf, offset):
        return DecodeError(f"{len(buf) - offset} bytes given for {codec.c_type} "
                           f"({codec.size} bytes)")
    return short
