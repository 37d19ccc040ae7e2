"""Codecs on every C shape: bytes laid out by clang (the fixture's initialised .data, both
byte orders), round trips, encoding errors, and hand-built BTF for what clang 14 lacks.

Anonymous struct/union members: their fields join the parent record, the way C code names
them (`ev.x` for `struct { int x; };`), and unnamed padding bitfields are left out."""

from __future__ import annotations

import functools
import io
import json
import math
import pickle
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from hypothesis import given
from hypothesis import strategies as st

from eunomia.btf import BTF, Datasec, Struct
from eunomia.decode import Record, compile_codec
from eunomia.errors import DecodeError

from .fixtures.btf_builder import BTFBuilder

FIXTURES = Path(__file__).parent / "fixtures"
OBJECTS = {"little": FIXTURES / "btf_shapes.o", "big": FIXTURES / "btf_shapes_eb.o"}

# What btf_shapes.bpf.c initialises data_event with, as the codec should read it.
EVENT = {
    "i8": -8, "u8": 200, "i16": -1600, "u16": 60000, "i32": -320000, "u32v": 4000000000,
    "i64": -6400000000, "u64": 18000000000000000000, "l": -5, "ul": 5, "flag": True,
    "name": "comm", "f32": 1.5, "f64": -2.25, "grid": [[1, 2], [3, 4], [5, 6], [7, 8]],
    "list": [10, 20, 30], "in": {"s": -3, "tag": 9}, "pair": [{"s": 1, "tag": 2},
                                                             {"s": 3, "tag": 4}],
    "color": "BLUE", "x": 11, "y": -12, "s128": -(1 << 100), "u128": 1 << 127,
    "chain": 99, "text": 0, "ptr": 0, "fn": 0, "inner_ptr": 0,
    "bits": {"a": 1, "b": -1, "c": 4095, "d": 127, "e": 1, "f": False, "g": "BLUE"},
}
BITS = {"a": 5, "b": -7, "c": 3000, "d": -100, "e": 0x123456789A, "f": True, "g": "GREEN"}


class Fixture:
    def __init__(self, path: Path):
        raw = path.read_bytes()
        self.btf = BTF.from_elf(raw)
        elf = ELFFile(io.BytesIO(raw))
        self.data = elf.get_section_by_name(".data").data()
        self.rodata = elf.get_section_by_name(".rodata").data()

    def codec(self, name, kind=Struct):
        return compile_codec(self.btf, self.btf.find(name, kind)[0])

    def var_offset(self, section: str, var: str) -> int:
        _, sec = self.btf.find(section, Datasec)
        return next(v.offset for v in sec.vars if self.btf[v.type].name == var)


@functools.cache
def load(order: str) -> Fixture:
    return Fixture(OBJECTS[order])


@pytest.fixture(params=["little", "big"])
def fx(request) -> Fixture:
    return load(request.param)


@pytest.fixture
def event(fx):
    return fx.codec("event")


def test_decodes_what_clang_laid_out(fx, event):
    decoded = event.decode(fx.data, fx.var_offset(".data", "data_event"))
    assert isinstance(decoded, Record) and event.size == len(event.encode({}))
    for name, expected in EVENT.items():
        assert decoded[name] == expected, name
    # unsigned char[4] is data: its bytes as they are (shown as hex), not text.
    assert decoded["raw"] == b"\xff\xfeok"
    assert event.to_json(decoded)["raw"] == "fffe6f6b"
    # clang 14 truncates 64-bit enumerators in BTF: WIDE_HUGE is an unknown value here.
    assert decoded["wide"] in ("WIDE_HUGE", 1 << 32)
    assert decoded["num"]["n"] == 77                  # a named union: every member
    assert set(decoded["num"]) == {"n", "d"}
    assert decoded["u"]["as_int"] == 0x64636261
    assert decoded["u"]["as_bytes"] == (b"abcd" if fx.btf.endian == "<" else b"dcba")
    assert list(decoded) == [name for name, _, _ in event.fields]     # declared order


def test_bitfields_as_clang_packs_them(fx):
    bits = fx.codec("bits")
    offset = fx.var_offset(".data", "data_bits")
    raw = fx.data[offset:offset + bits.size]
    assert bits.decode(raw) == BITS
    assert bits.encode(BITS) == raw                   # and back, bit for bit


def test_encode_reproduces_clang_bytes_for_plain_members(fx, event):
    offset = fx.var_offset(".data", "data_event")
    clang = fx.data[offset:offset + event.size]
    # A full-length char array decodes to text that needs its NUL to encode back: give
    # those as bytes.
    ours = event.encode(event.decode(clang) | {"raw": b"\xff\xfeok",
                                               "u": {"as_int": 0x64636261}})
    assert ours == clang


def test_decode_at_an_offset_and_from_memoryview(fx):
    inner = fx.codec("inner")
    raw = b"\xaa" * 3 + inner.encode({"s": -2, "tag": 7})
    assert inner.decode(memoryview(raw), 3) == {"s": -2, "tag": 7}


def test_datasec_and_var_codecs(fx):
    rodata = compile_codec(fx.btf, fx.btf.find(".rodata", Datasec)[0])
    assert rodata.decode(fx.rodata) == {"ro_value": 42, "ro_name": "hello"}
    assert rodata.encode({"ro_value": 1})[:4] == compile_codec(
        fx.btf, fx.btf.find("ro_value")[0]).encode(1)


def test_anonymous_members_join_the_parent(event):
    names = [name for name, _, _ in event.fields]
    assert "x" in names and "y" in names and "" not in names
    assert event.decode(event.encode({"x": 3, "y": 4})).y == 4


def test_field_types(event):
    types = {name: c_type for name, c_type, _ in event.fields}
    assert types["grid"] == "int[4][2]" and types["chain"] == "const volatile pid_like"
    assert types["text"] == "const char *" and types["bits"] == "struct bits"


def test_to_json(event):
    decoded = event.decode(event.encode(EVENT))
    as_json = event.to_json(decoded)
    assert as_json["s128"] == str(-(1 << 100)) and as_json["u128"] == str(1 << 127)
    assert as_json["u64"] == EVENT["u64"] and as_json["bits"] == EVENT["bits"]
    json.dumps(as_json)
    assert decoded["s128"] == -(1 << 100)             # to_json made a copy


@pytest.mark.parametrize("field, value, message", [
    ("u8", 300, r"value 300 out of range for unsigned char \(0..255\)"),
    ("i8", -129, r"out of range for signed char \(-128..127\)"),
    ("u16", -1, r"out of range for unsigned short \(0..65535\)"),
    ("u64", 1 << 64, "out of range for unsigned long long"),
    ("u128", -1, "out of range for unsigned __int128"),
    ("i32", "12", "expected an integer for int"),
    ("f32", "x", "expected a number for float"),
    ("color", "PURPLE", "'PURPLE' is not a value of enum color"),
    ("name", "12345678", r"string of 8 bytes does not fit char\[8\]"),
    ("name", 5, r"expected text for char\[8\]"),
    ("grid", [[0, 0]] * 5, r"5 items do not fit int\[4\]\[2\]"),
    ("nope", 1, "struct event has no field 'nope'"),
    ("in", {"nope": 1}, "struct inner has no field 'nope'"),
    ("in", 5, "expected a mapping for struct inner"),
    ("bits", {"a": 8}, r"value 8 out of range for the 3-bit field 'a' \(0..7\)"),
    ("bits", {"b": 16}, r"out of range for the 5-bit field 'b' \(-16..15\)"),
    ("bits", {"g": "PURPLE"}, "not a value of enum color"),
    ("ptr", b"\0" * 4, r"4 bytes given for void \* \(8 bytes\)"),
])
def test_encode_errors(event, field, value, message):
    with pytest.raises(DecodeError, match=message):
        event.encode({field: value})


def test_encode_error_names_the_field(event):
    with pytest.raises(DecodeError, match=r"struct event\.u8: value 300"):
        event.encode({"u8": 300})


def test_encode_accepts(event):
    decoded = event.decode(event.encode({
        "flag": 1, "f64": 3, "color": 5, "grid": [[9]], "in": Record(s=1),
        "name": "1234567", "u64": b"\x01" * 8, "i8": "A",
    }))
    assert decoded.flag is True and decoded.f64 == 3.0 and decoded.color == "GREEN"
    assert decoded.grid == [[9, 0], [0, 0], [0, 0], [0, 0]]          # zero-filled
    assert decoded["in"] == {"s": 1, "tag": 0}                       # missing -> zero
    assert decoded.name == "1234567" and decoded.u64 == 0x0101010101010101
    assert decoded.i8 == ord("A")
    assert event.encode(b"\x00" * event.size) == bytes(event.size)


def test_char_arrays(event):
    full = event.decode(event.encode({"name": b"12345678"}))
    assert full.name == "12345678"                    # all 8 bytes, no NUL
    assert event.decode(event.encode({"name": b"ab\0cd"})).name == "ab"
    assert event.decode(event.encode({"name": b"\xc3(ok"})).name == "\ufffd(ok"
    assert event.decode(event.encode({"name": "é"})).name == "é"


def test_unknown_enum_value_stays_a_number(event):
    assert event.decode(event.encode({"color": 77})).color == 77
    assert event.decode(event.encode({"bits": {"g": 77}})).bits.g == 77


def test_short_buffers_raise_decode_error(fx, event):
    with pytest.raises(DecodeError, match=r"bytes given for struct event"):
        event.decode(bytes(event.size - 1))
    with pytest.raises(DecodeError, match="bytes given for unsigned __int128"):
        compile_codec(fx.btf, fx.btf.find("unsigned __int128")[0]).decode(bytes(15))


WIDTHS = [("i8", 8, True), ("u8", 8, False), ("i16", 16, True), ("u16", 16, False),
          ("i32", 32, True), ("u32v", 32, False), ("i64", 64, True), ("u64", 64, False),
          ("l", 64, True), ("ul", 64, False), ("s128", 128, True), ("u128", 128, False)]


def integers(bits: int, signed: bool):
    return st.integers(-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed \
        else st.integers(0, (1 << bits) - 1)


@given(st.fixed_dictionaries({name: integers(bits, signed) for name, bits, signed in WIDTHS}))
def test_integer_round_trip_every_width(values):
    for order in OBJECTS:
        codec = load(order).codec("event")
        decoded = codec.decode(codec.encode(values))
        assert {name: decoded[name] for name in values} == values


@given(a=integers(3, False), b=integers(5, True), c=integers(12, False),
       d=integers(8, True), e=integers(40, False), f=st.booleans())
def test_bitfield_round_trip(a, b, c, d, e, f):
    for order in OBJECTS:
        bits = load(order).codec("bits")
        value = {"a": a, "b": b, "c": c, "d": d, "e": e, "f": f, "g": "RED"}
        assert bits.decode(bits.encode(value)) == value


@pytest.mark.parametrize("endian", "<>")
def test_kinds_clang_14_cannot_emit(endian):
    b = BTFBuilder(endian)
    i = b.int_("int", 4, signed=True)
    sign = b.enum("sign", 4, [("NEG", -1), ("POS", 2)], signed=True)
    big = b.enum64("big", 8, [("HUGE", 1 << 40), ("MINUS", -5)], signed=True)
    ubig = b.enum64("ubig", 8, [("TOP", (1 << 64) - 1)])
    ld = b.float_("long double", 16)
    half = b.float_("_Float16", 2)
    fwd = b.fwd("later")
    ptr = b.ptr(fwd)
    s = b.struct("s", 56, [("e", sign, 0, 0), ("pad", i, 32, 0), ("big", big, 64, 0),
                           ("ubig", ubig, 128, 0), ("ld", ld, 192, 0),
                           ("fwd", ptr, 320, 0), ("half", half, 384, 0),
                           ("nb", sign, 400, 4)])
    btf = BTF.parse(b.build())
    codec = compile_codec(btf, s)
    value = {"e": "NEG", "pad": -1, "big": "MINUS", "ubig": "TOP", "ld": bytes(range(16)),
             "half": 0.5, "fwd": 0xFFFF, "nb": "NEG"}
    decoded = codec.decode(codec.encode(value))
    assert decoded == value
    assert codec.to_json(decoded)["ld"] == bytes(range(16)).hex()
    assert codec.decode(codec.encode({"big": 1 << 40})).big == "HUGE"
    assert codec.decode(codec.encode({"e": -7})).e == -7          # unknown, signed
    assert codec.decode(codec.encode({"nb": 7})).nb == 7
    with pytest.raises(DecodeError, match="16 bytes"):
        codec.encode({"ld": 1.0})


def test_old_style_int_bitfields():
    b = BTFBuilder()
    three = b.int_("unsigned int", 4, bits=3, offset=4)     # pre-kind_flag bitfield
    s = b.struct("old", 4, [("flags", three, 0, 0)])
    codec = compile_codec(BTF.parse(b.build()), s)
    assert codec.encode({"flags": 5}) == (5 << 4).to_bytes(4, "little")
    assert codec.decode((5 << 4 | 0x3).to_bytes(4, "little")) == {"flags": 5}


def test_codecs_are_compiled_once(fx):
    type_id = fx.btf.find("event", Struct)[0]
    assert compile_codec(fx.btf, type_id) is compile_codec(fx.btf, type_id)


def test_flat_layout_fast_path(fx):
    inner = fx.codec("inner")
    fmt, names, text_positions = inner.flat_layout()
    raw = inner.encode({"s": -5, "tag": 250})
    assert dict(zip(names, fmt.unpack_from(raw))) == inner.decode(raw)
    assert text_positions == []
    assert fx.codec("event").flat_layout() is None          # nested records, enums, ...


def test_record():
    record = Record(pid=1, comm="sh")
    assert record.pid == 1 and record["comm"] == "sh"
    assert not hasattr(record, "missing")
    with pytest.raises(AttributeError, match="no field 'missing'"):
        _ = record.missing
    record.ppid = 2
    assert record["ppid"] == 2
    assert pickle.loads(pickle.dumps(record)) == record
    assert type(pickle.loads(pickle.dumps(record))) is Record
    assert repr(record) == "{'pid': 1, 'comm': 'sh', 'ppid': 2}"
    assert json.dumps(record) == '{"pid": 1, "comm": "sh", "ppid": 2}'


def test_nested_records_are_records(event):
    decoded = event.decode(event.encode({"in": {"s": 1}, "pair": [{"tag": 3}]}))
    assert type(decoded["in"]) is Record and type(decoded.pair[0]) is Record
    assert decoded.pair[0].tag == 3 and type(decoded.u) is Record


def test_members_out_of_offset_order_and_flexible_arrays():
    b = BTFBuilder()
    i = b.int_("int", 4, signed=True)
    ch = b.int_("char", 1, signed=True, char=True)
    flex = b.array(ch, i, 0)
    s = b.struct("odd", 8, [("second", i, 32, 0), ("first", i, 0, 0), ("tail", flex, 64, 0)])
    codec = compile_codec(BTF.parse(b.build()), s)
    raw = (1).to_bytes(4, "little") + (2).to_bytes(4, "little")
    assert codec.decode(raw) == {"second": 2, "first": 1, "tail": ""}
    assert codec.encode({"first": 1, "second": 2, "tail": ""}) == raw
    with pytest.raises(DecodeError, match=r"does not fit char\[0\]"):
        codec.encode({"tail": "x"})


def test_union_decoding_and_short_buffers():
    b = BTFBuilder()
    i = b.int_("int", 4, signed=True)
    ch = b.int_("unsigned char", 1)
    u = b.struct("u", 4, [("as_int", i, 0, 0), ("low", ch, 0, 0), ("nib", ch, 4, 4)],
                 union=True)
    codec = compile_codec(BTF.parse(b.build()), u)
    assert codec.decode(b"\xabcde") == {"as_int": 0x656463AB, "low": 0xAB, "nib": 0xA}
    with pytest.raises(DecodeError, match=r"3 bytes given for union u \(4 bytes\)"):
        codec.decode(b"abc")


def reference_decode(codec, buf, offset, endian):
    """Member by member, no generated code: what the generated decoders must agree with."""
    from eunomia.decode.codecs import RecordCodec, _bit_reader
    if isinstance(codec, RecordCodec):
        return Record((name, reference_decode(member, buf, offset + at, endian)
                       if bitfield is None else
                       _bit_reader(member, *bitfield, endian)(buf, offset + at))
                      for name, _, member, at, bitfield in codec._members)
    return codec.decode(buf, offset)


def same(a, b) -> bool:
    """Equal, including types (True is not 1) and NaN."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict):
        return type(a) is type(b) and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("order", ["little", "big"])
@pytest.mark.parametrize("name", ["event", "bits", "inner", "tagged"])
def test_generated_decoders_agree_with_member_by_member(order, name):
    import random
    fx = load(order)
    codec = fx.codec(name)
    rng = random.Random(name)
    for _ in range(50):
        raw = bytes(rng.getrandbits(8) for _ in range(codec.size + 2))
        assert same(codec.decode(raw, 2), reference_decode(codec, raw, 2, fx.btf.endian))


def test_generated_decoders_agree_on_kernel_structs():
    import random
    path = Path("/sys/kernel/btf/vmlinux")
    if not path.exists():
        pytest.skip("this kernel exposes no BTF at /sys/kernel/btf/vmlinux")
    btf = BTF.from_file(str(path))
    rng = random.Random(1)
    ids = [i for i, t in enumerate(btf.types) if isinstance(t, Struct) and 0 < t.size < 4096]
    for type_id in [btf.find("task_struct", Struct)[0]] + rng.sample(ids, 300):
        codec = compile_codec(btf, type_id)
        raw = bytes(rng.getrandbits(8) for _ in range(codec.size))
        assert same(codec.decode(raw), reference_decode(codec, raw, 0, "<")), btf.c_name(type_id)


def test_row_builder_makes_records_of_any_member_names():
    """Records are built by keyword where the names allow it; a member named as a
    Python keyword (C allows `from`, `class`) still decodes, through a dict display."""
    import struct as struct_module

    from eunomia.decode.record import row_builder
    layout = struct_module.Struct("<I8sQ")
    blob = layout.pack(7, b"ab\0cd", 9) + layout.pack(8, b"xyz", 10)
    for names in (["pid", "comm", "bytes"], ["from", "class", "bytes"]):
        records = row_builder(names, [1])(layout.iter_unpack(blob))
        assert records == [dict(zip(names, (7, "ab", 9))), dict(zip(names, (8, "xyz", 10)))]
        assert getattr(records[1], names[0]) == 8
