"""How a map's keys and values become Python values: BTF codecs, or plain integers and
bytes for maps declared with sizes only (`__uint(key_size, 4)`)."""

from __future__ import annotations

import struct

from ..decode import Record, compile_codec
from ..decode.codecs import Codec, RecordCodec
from ..decode.record import row_builder
from ..errors import DecodeError

_INT_CODES = {1: "B", 2: "H", 4: "I", 8: "Q"}


class SizedCodec(Codec):
    """A key or value without BTF: an unsigned integer for 1, 2, 4 or 8 bytes, else bytes."""

    def __init__(self, size: int):
        self.size = size
        code = _INT_CODES.get(size)
        self._struct = struct.Struct("=" + code) if code else None
        self.c_type = f"u{size * 8}" if code else f"{size} bytes"

    def decode(self, buf, offset: int = 0):
        if self._struct is not None:
            return self._struct.unpack_from(buf, offset)[0]
        return bytes(buf[offset:offset + self.size])

    def encode(self, value) -> bytes:
        if isinstance(value, (bytes, bytearray, memoryview)):
            if len(value) != self.size:
                raise DecodeError(f"{len(value)} bytes given for {self.c_type}")
            return bytes(value)
        if self._struct is None:
            raise DecodeError(f"expected {self.size} bytes, not {value!r}")
        try:
            return self._struct.pack(value)
        except struct.error:
            raise DecodeError(f"{value!r} does not fit {self.c_type}") from None

    def to_json(self, value):
        return value.hex() if isinstance(value, bytes) else value


def decode_array(codec: Codec, blob: bytes, size: int, count: int) -> list:
    """`count` values of `size` bytes laid end to end: one unpack for plain integers,
    one decode call per value otherwise."""
    layout = getattr(codec, "_struct", None)
    if layout is not None and size == layout.size and not getattr(codec, "is_bool", False):
        code = layout.format
        return list(struct.unpack(f"{code[0]}{count}{code[1:]}", blob[:count * size]))
    flat = codec.flat_layout() if isinstance(codec, RecordCodec) else None
    if flat is not None and flat[0].size == size:
        return _flat_records(flat, blob[:count * size])
    decode = codec.decode
    return [decode(blob, i * size) for i in range(count)]


def _flat_records(flat, blob: bytes) -> list[Record]:
    """Structs of plain integers and char arrays: one iter_unpack for all of them."""
    layout, names, texts = flat
    return row_builder(names, texts)(layout.iter_unpack(blob))


def codec_for(btf, type_id: int, size: int) -> Codec:
    """The codec of BTF type `type_id`, or a SizedCodec when the map has no BTF for it."""
    if btf is None or not type_id or size == 0:
        return SizedCodec(size)
    return compile_codec(btf, type_id)
