"""BTF reader and codecs on every C shape, from a real clang-built object."""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eunomia.btf import BTF, Datasec, Enum, Enum64, Int, Struct, Var
from eunomia.decode import Record, compile_codec
from eunomia.errors import BTFError, DecodeError

SHAPES = Path(__file__).parent / "fixtures" / "shapes.bpf.c"


@pytest.fixture(scope="module")
def elf(tmp_path_factory) -> bytes:
    if shutil.which("clang") is None:
        pytest.skip("building the BTF fixture needs clang (./scripts/setup installs it)")
    out = tmp_path_factory.mktemp("shapes") / "shapes.o"
    subprocess.run(["clang", "-g", "-O2", "-target", "bpf", "-c", str(SHAPES), "-o", str(out)],
                   check=True)
    return out.read_bytes()


@pytest.fixture(scope="module")
def btf(elf) -> BTF:
    return BTF.from_elf(elf)


@pytest.fixture(scope="module")
def shapes(btf):
    type_id, _ = btf.find("shapes", Struct)
    return compile_codec(btf, type_id)


def field_types(codec) -> dict[str, str]:
    return {name: c_type for name, c_type, _ in codec.fields}


def test_c_names(shapes):
    types = field_types(shapes)
    assert types["i8"] == "signed char"
    assert types["u64"] == "unsigned long long"
    assert types["flag"] == "_Bool"
    assert types["name"] == "char[8]"
    assert types["grid"] == "int[2][3]"
    assert types["in"] == "struct inner"
    assert types["pair"] == "struct inner[2]"
    assert types["color"] == "enum color"
    assert types["chain"] == "const volatile pid_like"
    assert types["ptr"] == "void *"
    assert types["u128"] == "unsigned __int128"


def test_member_offsets_and_bitfields(btf):
    _, t = btf.find("shapes", Struct)
    members = {m.name: m for m in t.members}
    assert members["i8"].bit_offset == 0
    assert members["u8"].bit_offset == 8
    assert members["i16"].bit_offset == 16
    assert members["bf_a"].bitfield_size == 3
    assert members["bf_b"].bitfield_size == 5
    assert members["bf_b"].bit_offset == members["bf_a"].bit_offset + 3
    assert btf.sizeof(btf.find("inner", Struct)[0]) == 4


def test_int_encodings_and_enums(btf):
    _, color = btf.find("color", Enum)
    values = dict(color.values)
    assert (values["RED"], values["GREEN"]) == (0, 5)
    # clang 14 marks no enum as signed (kind_flag came with LLVM 15): -1 reads as 2**32 - 1.
    assert values["BLUE"] & 0xFFFFFFFF == 0xFFFFFFFF
    _, big = btf.find("big")
    assert big.size == 8
    if isinstance(big, Enum64):     # clang >= 15; clang 14 emits a 32-bit-valued ENUM
        assert dict(big.values)["HUGE"] == 1 << 32
    _, boolean = btf.find("_Bool", Int)
    assert boolean.bool and boolean.size == 1
    _, char = btf.find("char", Int)
    assert char.size == 1 and (char.char or char.signed)   # clang encodes char as signed


def test_datasec_fixup_from_elf(btf):
    sections = {t.name: t for t in btf.types if isinstance(t, Datasec)}
    for name in (".rodata", ".data", ".bss"):
        assert sections[name].size > 0, name
    bss = {btf[v.type].name: v for v in sections[".bss"].vars}
    assert set(bss) == {"bss_value", "the_shapes", "the_flat_event"}
    assert bss["bss_value"].offset != bss["the_shapes"].offset
    assert isinstance(btf[bss["the_shapes"].type], Var)


def test_round_trip_of_every_shape(shapes):
    value = {"i8": -5, "u8": 250, "i16": -300, "u16": 65000, "i32": -70000,
             "u32v": 4000000000, "i64": -(2**40), "u64": 2**64 - 1, "flag": True,
             "name": "abc", "grid": [[1, 2, 3], [4, 5, 6]], "in": {"s": -3, "tag": 9},
             "pair": [{"s": 1, "tag": 2}, {"s": 3, "tag": 4}], "color": "BLUE",
             "big": "HUGE", "bf_a": 5, "bf_b": -7, "bf_c": 4000, "u": {"as_int": 0x64636261},
             "x": 1, "y": -2, "s128": -(2**100), "u128": 2**127, "chain": 99, "ptr": 0xdead}
    raw = shapes.encode(value)
    assert len(raw) == shapes.size
    decoded = shapes.decode(raw)
    for name, expected in value.items():
        if name != "u":
            assert decoded[name] == expected, name
    assert decoded["u"]["as_int"] == 0x64636261
    assert decoded["u"]["as_bytes"] == b"abcd"      # unsigned char[4] is data: bytes,
    assert list(decoded) == [name for name, _, _ in shapes.fields]   # declared order
    as_json = shapes.to_json(decoded)
    assert as_json["u"]["as_bytes"] == "61626364"   # shown as hex; char[N] stays text
    assert as_json["s128"] == str(-(2**100)) and as_json["u128"] == str(2**127)
    assert isinstance(decoded, Record)
    assert decoded.color == "BLUE" and decoded.pair[1].tag == 4


def test_unknown_enum_value_stays_a_number(shapes):
    assert shapes.decode(shapes.encode({"color": 77}))["color"] == 77


def test_char_arrays(shapes):
    full = shapes.decode(shapes.encode({"name": b"12345678"}))
    assert full["name"] == "12345678"                  # all 8 bytes, no NUL
    bad = shapes.decode(shapes.encode({"name": b"\xff\xfeok"}))
    assert bad["name"].endswith("ok")                  # invalid UTF-8 replaced
    with pytest.raises(DecodeError, match="does not fit char\\[8\\]"):
        shapes.encode({"name": "12345678"})


def test_byte_arrays_are_data():
    """unsigned char[N] holds addresses, hashes, packet bytes: NULs inside are kept, and
    they encode from bytes, byte values, hex or text."""
    from eunomia.decode.codecs import BytesCodec
    codec = BytesCodec("unsigned char[6]", 6)
    mac = bytes([0xDE, 0xAD, 0, 0xEF, 0, 0x10])
    assert codec.decode(codec.encode(mac)) == mac
    assert codec.to_json(mac) == "dead00ef0010"
    assert codec.encode("dead00ef0010") == mac
    assert codec.encode([1, 2]) == b"\x01\x02\0\0\0\0"
    assert codec.encode("ab") == b"ab\0\0\0\0"
    with pytest.raises(DecodeError, match="do not fit"):
        codec.encode(b"1234567")


@pytest.mark.parametrize("field, value, message", [
    ("u8", 256, "out of range for unsigned char"),
    ("i8", -129, "out of range for signed char"),
    ("color", "PURPLE", "not a value of enum color"),
    ("nope", 1, "no field 'nope'"),
    ("grid", [[0] * 3] * 3, "do not fit"),
    ("bf_a", 8, "3-bit field"),
])
def test_encode_errors(shapes, field, value, message):
    with pytest.raises(DecodeError, match=message):
        shapes.encode({field: value})


@given(st.integers(-(2**63), 2**63 - 1), st.integers(0, 2**32 - 1),
       st.integers(-(2**127), 2**127 - 1))
def test_integer_round_trip(shapes, i64, u32v, s128):
    decoded = shapes.decode(shapes.encode({"i64": i64, "u32v": u32v, "s128": s128}))
    assert (decoded.i64, decoded.u32v, decoded.s128) == (i64, u32v, s128)


def test_record_attributes_and_pickle():
    record = Record(pid=1, comm="sh")
    assert record.pid == 1 and record["comm"] == "sh"
    assert not hasattr(record, "missing")
    assert pickle.loads(pickle.dumps(record)) == record
    assert repr(record) == "{'pid': 1, 'comm': 'sh'}"


def test_bad_btf_data():
    with pytest.raises(BTFError, match="too short"):
        BTF.parse(b"\x9f\xeb")
    with pytest.raises(BTFError, match="bad magic"):
        BTF.parse(bytes(32))
    with pytest.raises(BTFError, match="no .BTF|not a valid ELF"):
        BTF.from_elf(b"\x7fELF" + bytes(60))


def test_kernel_btf():
    path = Path("/sys/kernel/btf/vmlinux")
    if not path.exists():
        pytest.skip("this kernel exposes no BTF")
    btf = BTF.from_file(str(path))
    _, task = btf.find("task_struct", Struct)
    assert task.size > 1000
    pid = next(m for m in task.members if m.name == "pid")
    assert btf.c_name(pid.type) == "pid_t"
    assert btf.sizeof(pid.type) == 4


def test_json_fast_path_matches_the_general_one(btf):
    from eunomia.output.records import JsonFormatter
    type_id, _ = btf.find("inner", Struct)
    codec = compile_codec(btf, type_id)
    formatter = JsonFormatter(codec)
    assert codec.flat_layout() is not None
    raws = [codec.encode({"s": s, "tag": t}) for s, t in ((-32768, 0), (5, 255), (0, 7))]
    assert formatter.rows(raws) == [formatter.row(codec.decode(r)) for r in raws]
    shapes_id, _ = btf.find("shapes", Struct)
    assert compile_codec(btf, shapes_id).flat_layout() is None   # nested, enums, bitfields


def test_batch_fast_paths_match_the_general_ones(btf):
    """A RecordBatch (records laid out as in a ring buffer: 8-byte header, padded to 8)
    formats exactly as its records one by one, for JSON and for the table."""
    import struct

    from eunomia.output.records import JsonFormatter, TableFormatter
    from eunomia.runtime.ringbuf import RecordBatch
    type_id, _ = btf.find("flat_event", Struct)
    codec = compile_codec(btf, type_id)
    assert codec.flat_layout() is not None
    values = [{"ts": 1, "pid": -5, "comm": "bash", "n": 7, "tail": "abcd"},
              {"ts": 2**64 - 1, "pid": 42, "comm": "a" * 15, "n": 0, "tail": ""},
              {"ts": 3, "pid": 0, "comm": "bash", "n": 2**32 - 1, "tail": "50%"},
              {"ts": 4, "pid": 1, "comm": "caf\u00e9 \"q\"", "n": 1, "tail": "x"}]
    raws = [codec.encode(v) for v in values]
    stride = (codec.size + 8 + 7) & ~7
    blob = b"".join(struct.pack("<II", codec.size, 0) + raw.ljust(stride - 8, b"\0")
                    for raw in raws)
    batch = RecordBatch(blob, len(raws), codec.size, stride)
    assert list(batch) == raws and batch[-1] == raws[-1] and batch[1:3] == raws[1:3]
    json_rows = JsonFormatter(codec)
    assert json_rows.rows(batch) == json_rows.rows(raws)
    assert [json.loads(line) for line in json_rows.rows(batch)] == values
    table = TableFormatter(codec)
    assert table.rows(batch, 0.0) == [table.row(codec.decode(r), 0.0) for r in raws]
    assert [codec.decode(blob, offset) for offset in batch.offsets()] == values


def test_small_elf_reader_agrees_with_pyelftools(elf):
    import io

    from elftools.elf.elffile import ELFFile

    from eunomia.elf import Elf, ElfFormatError
    ours, theirs = Elf(elf), ELFFile(io.BytesIO(elf))
    assert [s.name for s in ours.sections] == [s.name for s in theirs.iter_sections()]
    for section in theirs.iter_sections():
        if section["sh_type"] != "SHT_NOBITS":
            assert ours.section_data(ours.section(section.name)) == section.data()
    symtab = theirs.get_section_by_name(".symtab")
    assert [(s.name, s.value, s.size) for s in ours.symbols()] == [
        (s.name, s["st_value"], s["st_size"]) for s in symtab.iter_symbols()]
    for bad in (b"", b"\x7fELF" + b"\0" * 60, elf[:100]):
        with pytest.raises(ElfFormatError):
            Elf(bad)
