"""Bytes <-> Python values for every BTF shape, prepared once per type.

One codec class per shape (integers, floats, enums, char arrays, arrays, records,
opaque bytes). A struct's decode is generated once (generate.py): one `struct.Struct`
unpack reads every fixed-size member, nested plain structs and bitfield words included,
and one dict display builds the Record. Unions, long arrays of records and 128-bit
values inside unions keep a per-member step.
"""

from __future__ import annotations

import struct

from ..errors import DecodeError
from .record import Record

_INT_CODES = {(1, True): "b", (1, False): "B", (2, True): "h", (2, False): "H",
              (4, True): "i", (4, False): "I", (8, True): "q", (8, False): "Q"}
_FLOAT_CODES = {2: "e", 4: "f", 8: "d"}


class Codec:
    """Base: `size`, `decode(buf, offset)`, `encode(value)`, `to_json(value)`."""

    size = 0
    c_type = ""
    fields: tuple = ()
    code: str | None = None        # struct-module code when a plain scalar or char array
    needs_json = False             # whether to_json must convert the decoded value

    def decode(self, buf, offset: int = 0):
        raise NotImplementedError

    def encode(self, value) -> bytes:
        raise NotImplementedError

    def to_json(self, value):
        return value

    def _exact_bytes(self, value) -> bytes | None:
        if isinstance(value, (bytes, bytearray, memoryview)):
            if len(value) != self.size:
                raise DecodeError(f"{len(value)} bytes given for {self.c_type} "
                                  f"({self.size} bytes)")
            return bytes(value)
        return None


def _short(buf, offset: int, codec: Codec) -> DecodeError:
    return DecodeError(f"{len(buf) - offset} bytes given for {codec.c_type} "
                       f"({codec.size} bytes)")


def _take(buf, offset: int, codec: Codec) -> bytes:
    """Exactly `codec.size` bytes at `offset`, or DecodeError."""
    raw = bytes(buf[offset:offset + codec.size])
    if len(raw) != codec.size:
        raise _short(buf, offset, codec)
    return raw


class IntCodec(Codec):
    """Integers of 1, 2, 4, 8 bytes (one struct code) or any other size (128-bit);
    `_Bool` as bool; pointers as unsigned 64-bit numbers."""

    def __init__(self, c_type: str, size: int, signed: bool, is_bool: bool, endian: str):
        self.c_type, self.size, self.signed, self.is_bool = c_type, size, signed, is_bool
        self.endian = endian
        self.low = -(1 << (size * 8 - 1)) if signed else 0
        self.high = (1 << (size * 8 - (1 if signed else 0))) - 1
        self.code = "?" if is_bool and size == 1 else _INT_CODES.get((size, signed))
        self.needs_json = self.code is None      # 128-bit integers go to JSON as text
        if self.code:
            self._struct = struct.Struct(endian + self.code)

    def decode(self, buf, offset=0):
        if self.code:
            try:
                return self._struct.unpack_from(buf, offset)[0]
            except struct.error:
                raise _short(buf, offset, self) from None
        return int.from_bytes(_take(buf, offset, self),
                              "little" if self.endian == "<" else "big", signed=self.signed)

    def encode(self, value) -> bytes:
        raw = self._exact_bytes(value)
        if raw is not None:
            return raw
        if isinstance(value, bool) or (self.is_bool and isinstance(value, int)):
            value = int(bool(value)) if self.is_bool else int(value)
        if isinstance(value, str) and self.size == 1 and len(value.encode()) == 1:
            value = value.encode()[0]        # a char given as a one-character string
        if not isinstance(value, int):
            raise DecodeError(f"expected an integer for {self.c_type}, not {value!r}")
        if not self.low <= value <= self.high:
            raise DecodeError(f"value {value} out of range for {self.c_type} "
                              f"({self.low}..{self.high})")
        return value.to_bytes(self.size, "little" if self.endian == "<" else "big",
                              signed=self.signed)

    def to_json(self, value):
        return str(value) if self.needs_json else value


class FloatCodec(Codec):
    """float, double, and 2-byte halves (wider ones are OpaqueCodec bytes)."""

    def __init__(self, c_type: str, size: int, endian: str):
        self.c_type, self.size = c_type, size
        self.code = _FLOAT_CODES.get(size)
        if self.code is None:
            raise DecodeError(f"{size}-byte floating point ({c_type}) is not supported")
        self._struct = struct.Struct(endian + self.code)

    def decode(self, buf, offset=0):
        try:
            return self._struct.unpack_from(buf, offset)[0]
        except struct.error:
            raise _short(buf, offset, self) from None

    def encode(self, value) -> bytes:
        raw = self._exact_bytes(value)
        if raw is not None:
            return raw
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise DecodeError(f"expected a number for {self.c_type}, not {value!r}")
        return self._struct.pack(float(value))


class EnumCodec(Codec):
    """Enumerator names; a value naming no enumerator stays a number."""

    needs_json = False

    def __init__(self, c_type: str, int_codec: IntCodec, values):
        self.c_type, self.size, self._int = c_type, int_codec.size, int_codec
        self.mask = (1 << self.size * 8) - 1
        self.by_value = {}
        for name, value in values:
            self.by_value.setdefault(value & self.mask, name)
        self.by_name = {name: value for name, value in values}
        self.code = int_codec.code

    def name_of(self, value: int):
        """The enumerator's name, or the number when it names none."""
        return self.by_value.get(value & self.mask, value)

    def decode(self, buf, offset=0):
        value = self._int.decode(buf, offset)
        return self.by_value.get(value & self.mask, value)

    def encode(self, value) -> bytes:
        if isinstance(value, str):
            if value not in self.by_name:
                raise DecodeError(f"'{value}' is not a value of {self.c_type} "
                                  f"({', '.join(self.by_name)})")
            value = self.by_name[value]
        return self._int.encode(value)


class CharArrayCodec(Codec):
    """char[N]: text up to the first NUL (invalid UTF-8 replaced)."""

    def __init__(self, c_type: str, size: int):
        self.c_type, self.size = c_type, size
        self.code = f"{size}s"

    @staticmethod
    def text(raw: bytes) -> str:
        """The bytes up to the first NUL (all of them when there is none), as text."""
        return raw.partition(b"\0")[0].decode("utf-8", "replace")

    def decode(self, buf, offset=0):
        return self.text(_take(buf, offset, self))

    def encode(self, value) -> bytes:
        if isinstance(value, (bytes, bytearray, memoryview)):
            value = bytes(value)
            if len(value) > self.size:
                raise DecodeError(f"{len(value)} bytes do not fit {self.c_type}")
            return value.ljust(self.size, b"\0")
        if not isinstance(value, str):
            raise DecodeError(f"expected text for {self.c_type}, not {value!r}")
        data = value.encode()
        if not data and not self.size:
            return b""                      # a flexible char[0] member: nothing to write
        if len(data) >= self.size:
            raise DecodeError(f"string of {len(data)} bytes does not fit {self.c_type} "
                              f"(at most {self.size - 1} plus the NUL)")
        return data.ljust(self.size, b"\0")


class BytesCodec(Codec):
    """unsigned char[N], u8[N], signed char[N]: data (addresses, hashes, packet bytes),
    decoded as bytes and shown as hex; only plain char[N] is text. `--format F=text`
    shows a byte array that holds text as text."""

    needs_json = True

    def __init__(self, c_type: str, size: int):
        self.c_type, self.size = c_type, size
        self.code = f"{size}s"

    def decode(self, buf, offset=0):
        return _take(buf, offset, self)

    def to_json(self, value):
        return bytes(value).hex()

    def encode(self, value) -> bytes:
        """bytes, a list of byte values, or text: hex digits, else UTF-8 (zero-padded)."""
        if isinstance(value, list):
            try:
                value = bytes(value)
            except (TypeError, ValueError):
                raise DecodeError(f"expected byte values for {self.c_type}, not {value!r}") \
                    from None
        elif isinstance(value, str):
            try:
                value = bytes.fromhex(value) if len(value) == 2 * self.size else value.encode()
            except ValueError:
                value = value.encode()
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise DecodeError(f"expected bytes for {self.c_type}, not {value!r}")
        value = bytes(value)
        if len(value) > self.size:
            raise DecodeError(f"{len(value)} bytes do not fit {self.c_type}")
        return value.ljust(self.size, b"\0")


class ArrayCodec(Codec):
    """Arrays other than char[N]: lists (a list of lists for int[4][2])."""

    def __init__(self, c_type: str, elem: Codec, count: int):
        self.c_type, self.elem, self.count = c_type, elem, count
        self.size = elem.size * count
        self.needs_json = elem.needs_json
        if isinstance(elem, (IntCodec, FloatCodec)) and elem.code:
            self._struct = struct.Struct(elem._struct.format[0] + elem.code * count)
        else:
            self._struct = None

    def decode(self, buf, offset=0):
        if self._struct is not None:
            try:
                return list(self._struct.unpack_from(buf, offset))
            except struct.error:
                raise _short(buf, offset, self) from None
        step = self.elem.size
        return [self.elem.decode(buf, offset + i * step) for i in range(self.count)]

    def encode(self, value) -> bytes:
        raw = self._exact_bytes(value)
        if raw is not None:
            return raw
        if not isinstance(value, (list, tuple)):
            raise DecodeError(f"expected a list for {self.c_type}, not {value!r}")
        if len(value) > self.count:
            raise DecodeError(f"{len(value)} items do not fit {self.c_type}")
        data = b"".join(self.elem.encode(v) for v in value)
        return data.ljust(self.size, b"\0")

    def to_json(self, value):
        return [self.elem.to_json(v) for v in value] if self.needs_json else value


class OpaqueCodec(Codec):
    """Types with no better reading (void, forward declarations): raw bytes, hex in JSON."""

    needs_json = True

    def __init__(self, c_type: str, size: int):
        self.c_type, self.size = c_type, size

    def decode(self, buf, offset=0):
        return _take(buf, offset, self)

    def encode(self, value) -> bytes:
        raw = self._exact_bytes(value)
        if raw is None:
            raise DecodeError(f"{self.c_type} can only be given as {self.size} bytes")
        return raw

    def to_json(self, value):
        # bytes, or an int where a bitfield was read out of an opaque type
        return value.hex() if isinstance(value, (bytes, bytearray)) else value


class UntypedRecordCodec(Codec):
    """Records whose struct the package does not name: a Record of their size and their
    bytes as hex (`{"size": 24, "data": "2a00..."}` in JSON). Sizes vary, so `size` is 0
    and readers hand each record over whole."""

    c_type = "untyped record"

    def __init__(self):
        self.fields = [("size", "unsigned int", IntCodec("unsigned int", 4, False, False, "<")),
                       ("data", "hex", OpaqueCodec("hex", 0))]

    def decode(self, buf, offset=0):
        data = bytes(buf[offset:])
        return Record((("size", len(data)), ("data", data.hex())))

    def encode(self, value) -> bytes:
        raise DecodeError("records of no declared type cannot be encoded")


class RecordCodec(Codec):
    """Structs and unions: a Record of every member (anonymous members' fields joined into
    the parent, as C names them). Also used for a DATASEC: a Record of its variables."""

    def __init__(self, c_type: str, size: int, endian: str, members: list, union: bool):
        # members: (name, c_type, codec, byte_offset, bitfield (bit_offset, bits) | None)
        self.c_type, self.size, self.union = c_type, size, union
        self.fields = [(name, ct, codec) for name, ct, codec, _, _ in members]
        self._members = members
        self.needs_json = any(codec.needs_json for _, _, codec, _, _ in members)
        self._by_name = {m[0]: m for m in members}
        self._endian = endian
        # Top-level members one struct format reads as they are: what flat_layout offers
        # output layers. decode itself is generated (see generate.py).
        fmt, fast, pos, flat = [endian], [], 0, not union
        for name, _, codec, offset, bitfield in members:
            plain = isinstance(codec, CharArrayCodec) or (
                isinstance(codec, IntCodec) and codec.code not in (None, "?"))
            if not plain or bitfield is not None or offset < pos:
                flat = False
                break
            if offset > pos:
                fmt.append(f"{offset - pos}x")
            fmt.append(codec.code)
            fast.append((name, isinstance(codec, CharArrayCodec)))
            pos = offset + codec.size
        if flat and size > pos:
            fmt.append(f"{size - pos}x")
        self._flat = ((struct.Struct("".join(fmt)), [name for name, _ in fast],
                       [i for i, (_, is_text) in enumerate(fast) if is_text])
                      if flat and fast else None)
        if union:
            self._readers = [(name, codec.decode if bitfield is None else
                              _bit_reader(codec, *bitfield, endian), offset)
                             for name, _, codec, offset, bitfield in members]

    def flat_layout(self):
        """(struct.Struct, names, text positions) when one unpack reads every member and
        each is a plain integer (at most 64 bits, not bool) or a char array; else None.
        Lets output layers format straight from the unpacked tuple."""
        if self._flat is None:
            return None
        layout, names, texts = self._flat
        return layout, list(names), list(texts)

    def decode(self, buf, offset=0):
        """A union (structs replace this with a generated function): every member read
        from the same bytes."""
        if len(buf) - offset < self.size:
            raise _short(buf, offset, self)
        return Record([(name, read(buf, offset + at)) for name, read, at in self._readers])

    def encode(self, value) -> bytes:
        raw = self._exact_bytes(value)
        if raw is not None:
            return raw
        if not isinstance(value, dict):
            raise DecodeError(f"expected a mapping for {self.c_type}, not {value!r}")
        unknown = [k for k in value if k not in self._by_name]
        if unknown:
            raise DecodeError(f"{self.c_type} has no field '{unknown[0]}'")
        out = bytearray(self.size)
        for name, field_value in value.items():
            _, _, codec, offset, bitfield = self._by_name[name]
            try:
                if bitfield is None:
                    data = codec.encode(field_value)
                    out[offset:offset + len(data)] = data
                else:
                    self._write_bits(out, offset, codec, *bitfield, name, field_value)
            except DecodeError as exc:
                raise DecodeError(f"{self.c_type}.{name}: {exc}") from None
        return bytes(out)

    def _write_bits(self, out, offset, codec, bit_offset, bits, name, value):
        if isinstance(codec, EnumCodec) and isinstance(value, str):
            codec.encode(value)                       # names the valid values on error
            value = codec.by_name[value]
        if isinstance(value, bool):
            value = int(value)
        if not isinstance(value, int):
            raise DecodeError(f"expected an integer for the {bits}-bit field '{name}', "
                              f"not {value!r}")
        low, high = ((-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if _bit_signed(codec)
                     else (0, (1 << bits) - 1))
        if isinstance(codec, EnumCodec) and not codec._int.signed:
            if value > high and value >> (codec.size * 8 - 1):
                value -= 1 << (codec.size * 8)     # -1 stored unsigned by clang < 15
            low = -(1 << (bits - 1))               # C enums with negatives are signed
        if not low <= value <= high:
            raise DecodeError(f"value {value} out of range for the {bits}-bit field "
                              f"'{name}' ({low}..{high})")
        end = "little" if self._endian == "<" else "big"
        value &= (1 << bits) - 1
        span = (bit_offset + bits + 7) // 8
        word = int.from_bytes(out[offset:offset + span], end)
        shift = bit_offset if end == "little" else span * 8 - bit_offset - bits
        word = (word & ~(((1 << bits) - 1) << shift)) | (value << shift)
        out[offset:offset + span] = word.to_bytes(span, end)

    def to_json(self, value):
        if not self.needs_json:
            return value
        return {name: self._by_name[name][2].to_json(v) if name in self._by_name else v
                for name, v in value.items()}


def _plain_code(codec: Codec) -> tuple[str | None, int]:
    """The struct-module code reading `codec` inside a record, and the element count when
    it reads as a list (0 for a single value)."""
    if isinstance(codec, ArrayCodec):
        if codec._struct is not None and codec.count:
            return codec._struct.format[1:], codec.count
        return None, 0
    return codec.code, 0


def _bit_reader(codec: Codec, bit_offset: int, bits: int, endian: str):
    """A function (buf, at) -> value of one bitfield, its shifts and masks worked out once
    (`at` is the start of the bytes holding it)."""
    end = "little" if endian == "<" else "big"
    span = (bit_offset + bits + 7) // 8
    shift = bit_offset if end == "little" else span * 8 - bit_offset - bits
    mask, sign = (1 << bits) - 1, (1 << (bits - 1)) if _bit_signed(codec) else 0
    from_bytes = int.from_bytes

    def read(buf, at):
        value = (from_bytes(buf[at:at + span], end) >> shift) & mask
        if value & sign:
            value -= 1 << bits
        return value

    if getattr(codec, "is_bool", False):
        return lambda buf, at: bool(read(buf, at))
    if isinstance(codec, EnumCodec):
        name_of = enum_bitfield_name(codec, bits)
        return lambda buf, at: name_of(read(buf, at))
    return read


def enum_bitfield_name(codec: EnumCodec, bits: int):
    """value -> enumerator name (or the value) for a `bits`-wide enum bitfield."""
    by_value, mask = codec.by_value, codec.mask
    unmarked_negative = not codec._int.signed

    def name_of(value: int):
        name = by_value.get(value & mask)
        if name is None and unmarked_negative and value >> (bits - 1):
            # An enum with negative values that BTF did not mark signed (clang < 15):
            # -1 in an 8-bit field is the enumerator stored as 0xffffffff.
            name = by_value.get((value - (1 << bits)) & mask)
        return value if name is None else name
    return name_of


def _bit_signed(codec: Codec) -> bool:
    if isinstance(codec, EnumCodec):
        return codec._int.signed
    return getattr(codec, "signed", False)
