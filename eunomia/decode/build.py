"""Building codecs from BTF: one codec per type id, cached on the BTF object.

Structs get a decoder generated once per type (generate.py); this module is the only one
that knows both the codec classes and the generator, so neither imports the other.
"""

from __future__ import annotations

from ..btf import Array, Datasec, Enum, Enum64, Float, Fwd, Int, Ptr, Struct, Union, Var, Void
from ..errors import DecodeError, PackageError
from .codecs import (
    _FLOAT_CODES,
    ArrayCodec,
    BytesCodec,
    CharArrayCodec,
    Codec,
    EnumCodec,
    FloatCodec,
    IntCodec,
    OpaqueCodec,
    RecordCodec,
)
from .generate import struct_decoder

# Byte arrays typed by <eunomia/types.bpf.h> (eunomia_ipv6_t) are data, not text: they
# decode as lists of byte values
DATA_ARRAY_PREFIX = "eunomia_"
# No value eunomia decodes is larger: a record, a map value, a data section.
MAX_DECODED_BYTES = 1 << 26


def build_codec(btf, type_id: int, cache: dict) -> Codec:
    if type_id in cache:
        return cache[type_id]
    codec = _build(btf, type_id, cache)
    if codec.size > MAX_DECODED_BYTES:
        raise DecodeError(f"BTF type {type_id} ({codec.c_type}) is {codec.size} bytes: "
                          f"more than any value eunomia decodes ({MAX_DECODED_BYTES} bytes)")
    return codec


def _build(btf, type_id: int, cache: dict) -> Codec:
    resolved_id, t = btf.resolve(type_id)
    c_type = btf.c_name(type_id)
    endian = btf.endian
    if isinstance(t, Int):
        codec: Codec = IntCodec(c_type, t.size, t.signed, t.bool, endian)
    elif isinstance(t, Float):
        codec = (FloatCodec(c_type, t.size, endian) if t.size in _FLOAT_CODES
                 else OpaqueCodec(c_type, t.size))          # long double: raw bytes
    elif isinstance(t, Ptr):
        codec = IntCodec(c_type, 8, False, False, endian)
    elif isinstance(t, (Enum, Enum64)):
        codec = EnumCodec(c_type, IntCodec(c_type, t.size, t.signed, False, endian), t.values)
    elif isinstance(t, Array):
        _, elem_t = btf.resolve(t.type)
        byte_sized = isinstance(elem_t, Int) and elem_t.size == 1 and not elem_t.bool \
            and not c_type.startswith(DATA_ARRAY_PREFIX)
        if byte_sized and (elem_t.char or elem_t.name == "char"):
            codec = CharArrayCodec(c_type, t.nelems)        # plain char: text
        elif byte_sized and "char" in elem_t.name:
            codec = BytesCodec(c_type, t.nelems)            # unsigned/signed char: data
        else:
            element = build_codec(btf, t.type, cache)
            if element.size == 0 and t.nelems:
                raise DecodeError(f"BTF type {type_id} ({c_type}): an array of "
                                  f"{t.nelems} elements of zero size")
            if element.size * t.nelems > MAX_DECODED_BYTES:
                raise DecodeError(f"BTF type {type_id} ({c_type}) is "
                                  f"{element.size * t.nelems} bytes: more than any value "
                                  f"eunomia decodes ({MAX_DECODED_BYTES} bytes)")
            codec = ArrayCodec(c_type, element, t.nelems)
    elif isinstance(t, (Struct, Union)):
        members: list = []
        _flatten(btf, t, 0, members, cache)
        codec = RecordCodec(c_type, t.size, endian, members, isinstance(t, Union))
        if not codec.union:
            codec.decode = struct_decoder(codec)
    elif isinstance(t, Datasec):
        variables = []
        for info in t.vars:
            var = btf[info.type]
            variables.append((var.name, btf.c_name(var.type), build_codec(btf, var.type, cache),
                              info.offset, None))
        codec = RecordCodec(f"section {t.name}", t.size, endian, variables, False)
        codec.decode = struct_decoder(codec)
    elif isinstance(t, Var):
        codec = build_codec(btf, t.type, cache)
    elif isinstance(t, (Void, Fwd)):
        codec = OpaqueCodec(c_type, 0)
    else:
        raise DecodeError(f"cannot decode BTF type {type_id} ({c_type})")
    cache[type_id] = codec
    cache.setdefault(resolved_id, codec)
    return codec


def _flatten(btf, t, base_bits: int, out: list, cache: dict) -> None:
    """Members of a struct/union; an anonymous struct/union member's fields join its parent,
    as C lets you name them. Unnamed bitfields are padding and are left out."""
    for m in t.members:
        bit_offset = base_bits + m.bit_offset
        _, mt = btf.resolve(m.type)
        if not m.name:
            if isinstance(mt, (Struct, Union)):
                _flatten(btf, mt, bit_offset, out, cache)
            continue
        codec = build_codec(btf, m.type, cache)
        bits = m.bitfield_size
        if not bits and isinstance(mt, Int) and mt.bits < mt.size * 8:
            bits, bit_offset = mt.bits, bit_offset + mt.offset   # pre-kind_flag bitfield
        if bits or bit_offset % 8:
            bits = bits or codec.size * 8
            out.append((m.name, btf.c_name(m.type), codec, bit_offset // 8,
                        (bit_offset % 8, bits)))
        else:
            out.append((m.name, btf.c_name(m.type), codec, bit_offset // 8, None))


def compile_codec(btf, type_id: int) -> Codec:
    """The codec of `type_id`, built once per BTF object.

    >>> codec = compile_codec(btf, btf.find("event", Struct)[0])
    >>> codec.decode(codec.encode({"pid": 1})).pid
    1
    """
    cache = btf.__dict__.setdefault("_codecs", {})
    return build_codec(btf, type_id, cache)


def custom_members_codec(btf, members, map_name: str = "") -> RecordCodec:
    """eunomia-bpf's `export_config: {"custom_members": [{name, offset, btf_type_id}]}`:
    a record of the named members at their byte offsets."""
    where = f"map '{map_name}': export_config.custom_members"
    if not isinstance(members, list) or not members:
        raise PackageError(f"{where} must be a non-empty list")
    cache = btf.__dict__.setdefault("_codecs", {})
    fields, size = [], 0
    for index, member in enumerate(members):
        if not isinstance(member, dict) or not isinstance(member.get("name"), str):
            raise PackageError(f"{where}[{index}] needs a name, an offset and a btf_type_id")
        offset, type_id = member.get("offset"), member.get("btf_type_id")
        if not isinstance(offset, int) or not isinstance(type_id, int) or offset < 0 or \
                not 0 < type_id < len(btf.types):
            raise PackageError(f"{where}[{index}]: offset and btf_type_id must be a byte "
                               "offset and a type of the object's BTF")
        codec = build_codec(btf, type_id, cache)
        fields.append((member["name"], btf.c_name(type_id), codec, offset, None))
        size = max(size, offset + codec.size)
    codec = RecordCodec(f"custom record of {map_name}", size, btf.endian, fields, False)
    codec.decode = struct_decoder(codec)
    return codec
