"""The pure-Python BTF reader on clang-built objects (both byte orders), hand-built blobs
(kinds clang 14 cannot emit, split BTF, broken data) and the running kernel's BTF."""

from __future__ import annotations

from pathlib import Path

import pytest

from eunomia.btf import (
    BTF,
    Array,
    Const,
    Datasec,
    DeclTag,
    Enum,
    Enum64,
    Float,
    Func,
    FuncProto,
    Fwd,
    Int,
    Ptr,
    Restrict,
    Struct,
    Typedef,
    TypeTag,
    Union,
    Var,
    Void,
    Volatile,
)
from eunomia.errors import BTFError

from .fixtures.btf_builder import BTFBuilder

FIXTURES = Path(__file__).parent / "fixtures"
OBJECTS = {"little": FIXTURES / "btf_shapes.o", "big": FIXTURES / "btf_shapes_eb.o"}


@pytest.fixture(scope="module", params=["little", "big"])
def btf(request) -> BTF:
    return BTF.from_elf(OBJECTS[request.param].read_bytes())


def members(btf: BTF, struct_name: str) -> dict:
    _, t = btf.find(struct_name, Struct)
    return {m.name: m for m in t.members}


def test_byte_order_follows_the_object():
    little = BTF.from_elf(OBJECTS["little"].read_bytes())
    big = BTF.from_elf(OBJECTS["big"].read_bytes())
    assert (little.endian, big.endian) == ("<", ">")
    assert little.types == big.types          # same types whichever way they were stored


def test_every_kind_clang_emits_is_read(btf):
    kinds = {type(t) for t in btf.types}
    assert {Void, Int, Ptr, Array, Struct, Union, Enum, Fwd, Typedef, Volatile, Const,
            Restrict, Func, FuncProto, Var, Datasec, Float, DeclTag, TypeTag} <= kinds
    assert isinstance(btf[0], Void)
    assert len(btf) == len(btf.types)


def test_integers(btf):
    ints = {t.name: t for t in btf.types if isinstance(t, Int)}
    assert (ints["signed char"].size, ints["signed char"].signed) == (1, True)
    assert (ints["unsigned short"].size, ints["unsigned short"].signed) == (2, False)
    assert (ints["long long"].size, ints["long long"].signed) == (8, True)
    assert (ints["__int128"].size, ints["unsigned __int128"].signed) == (16, False)
    assert ints["_Bool"].bool and ints["_Bool"].size == 1
    assert ints["int"].bits == 32 and ints["int"].offset == 0
    floats = {t.name: t.size for t in btf.types if isinstance(t, Float)}
    assert floats == {"float": 4, "double": 8}


def test_struct_member_offsets_in_bits(btf):
    event = members(btf, "event")
    assert [event[n].bit_offset for n in ("i8", "u8", "i16", "u16", "i32")] == \
        [0, 8, 16, 32, 64]
    assert event["i64"].bitfield_size == 0
    assert btf.sizeof(btf.find("inner", Struct)[0]) == 4
    anonymous = [m for m in btf.find("event", Struct)[1].members if not m.name]
    assert [type(btf[m.type]) for m in anonymous] == [Struct]     # struct { int x, y; }
    assert isinstance(btf[event["u"].type], Union) and btf[event["u"].type].name == ""


def test_bitfields_use_the_kind_flag_encoding(btf):
    bits = members(btf, "bits")
    assert [(bits[n].bit_offset, bits[n].bitfield_size) for n in "abcdefg"] == \
        [(0, 3), (3, 5), (8, 12), (24, 8), (64, 40), (104, 1), (105, 8)]
    assert "" not in bits                   # clang drops the unnamed padding bitfield


def test_enums(btf):
    _, color = btf.find("color", Enum)
    values = dict(color.values)
    assert (values["RED"], values["GREEN"]) == (0, 5)
    # clang 14 marks no enum signed (kind_flag came with LLVM 15): -1 reads as 2**32 - 1.
    assert values["BLUE"] & 0xFFFFFFFF == 0xFFFFFFFF
    assert btf.find("wide")[1].size == 8


def test_tags_fwd_and_functions(btf):
    tagged_id, tagged = btf.find("tagged", Struct)
    decl = next(t for t in btf.types if isinstance(t, DeclTag))
    assert (decl.name, decl.type, decl.component_idx) == ("qtag", tagged_id, 1)
    p = {m.name: m for m in tagged.members}
    assert isinstance(btf[btf[p["p"].type].type], TypeTag)
    assert btf[btf[p["p"].type].type].name == "user"
    assert btf.find("opaque") == btf.find("opaque", Fwd)
    _, prog = btf.find("prog", Func)
    assert prog.linkage == 1                      # global
    proto = btf[prog.type]
    assert isinstance(proto, FuncProto) and [p.name for p in proto.params] == ["ctx"]


def test_datasec_sizes_and_offsets_fixed_up_from_the_elf(btf):
    sections = {t.name: t for t in btf.types if isinstance(t, Datasec)}
    layout = {name: {btf[v.type].name: (v.offset, v.size) for v in sec.vars}
              for name, sec in sections.items()}
    # Values from the object's symbol table and section headers (readelf -sW / -SW).
    assert layout[".rodata"] == {"ro_value": (0, 4), "ro_name": (4, 16)}
    assert sections[".rodata"].size == 20
    assert layout[".data"]["data_value"] == (0, 4)
    offsets = [v.offset for v in sections[".data"].vars]
    assert offsets == sorted(offsets)                 # libbpf sorts them by offset
    hidden = next(btf[v.type] for v in sections[".data"].vars
                  if btf[v.type].name == "hidden_value")
    assert hidden.linkage == 0                        # hidden visibility: static
    static = next(v for v in sections[".bss"].vars if btf[v.type].name == "static_counter")
    assert btf[static.type].linkage == 0 and static.offset == 0   # left as clang gave it
    assert layout[".data"]["data_pair"] == (8, 16)
    assert sections[".data"].size > 0 and sections[".bss"].size > 0
    bss = layout[".bss"]
    assert bss["bss_value"][0] != bss["bss_event"][0]
    assert len({offset for offset, _ in bss.values()}) == len(bss)
    # .kconfig has no ELF section: libbpf leaves it (size 0) for the loader to fill.
    assert sections[".kconfig"].size == 0
    var = btf[sections[".kconfig"].vars[0].type]
    assert isinstance(var, Var) and var.name == "CONFIG_HZ"


def test_raw_btf_section_is_not_fixed_up():
    from io import BytesIO

    from elftools.elf.elffile import ELFFile
    elf = ELFFile(BytesIO(OBJECTS["little"].read_bytes()))
    raw = BTF.parse(elf.get_section_by_name(".BTF").data())
    _, rodata = raw.find(".rodata", Datasec)
    assert rodata.size == 0 and {v.offset for v in rodata.vars} == {0}


@pytest.mark.parametrize("member, spelling", [
    ("i8", "signed char"), ("u16", "unsigned short"), ("u32v", "unsigned int"),
    ("i64", "long long"), ("u64", "unsigned long long"), ("flag", "_Bool"),
    ("name", "char[8]"), ("grid", "int[4][2]"), ("in", "struct inner"),
    ("pair", "struct inner[2]"), ("color", "enum color"), ("num", "union number"),
    ("chain", "const volatile pid_like"), ("text", "const char *"), ("ptr", "void *"),
    ("fn", "handler_fn"), ("inner_ptr", "struct inner *"), ("u128", "unsigned __int128"),
    ("f64", "double"),
])
def test_c_names(btf, member, spelling):
    assert btf.c_name(members(btf, "event")[member].type) == spelling


def test_c_names_of_anonymous_and_function_pointer_types(btf):
    event = members(btf, "event")
    _, fn = btf.resolve(event["fn"].type)
    assert btf.c_name(event["fn"].type) == "handler_fn"
    assert btf.c_name(btf.find("handler_fn", Typedef)[1].type).startswith("int (*)(int,")
    assert isinstance(fn, Ptr)
    anonymous = [m for m in btf.find("event", Struct)[1].members if not m.name]
    assert [btf.c_name(m.type) for m in anonymous] == ["struct"]
    assert btf.c_name(event["u"].type) == "union"
    assert btf.c_name(0) == "void"
    assert btf.c_name(btf.find("tagged", Struct)[1].members[3].type) == "int * restrict"


def test_resolve_and_sizeof_through_typedefs_and_qualifiers(btf):
    chain = members(btf, "event")["chain"].type
    type_id, t = btf.resolve(chain)
    assert isinstance(t, Int) and t.name == "unsigned int"
    assert btf.resolve(type_id) == (type_id, t)
    assert btf.sizeof(chain) == 4
    assert btf.sizeof(members(btf, "event")["grid"].type) == 32
    assert btf.sizeof(members(btf, "event")["ptr"].type) == 8
    assert btf.sizeof(btf.find("event", Struct)[0]) == btf.find("event", Struct)[1].size
    with pytest.raises(BTFError, match="has no size"):
        btf.sizeof(btf.find("prog", Func)[0])


def test_find_and_errors(btf):
    assert [t for _, t in btf.find_all("inner")] == [btf.find("inner")[1]]
    assert btf.find_all("no_such_type") == []
    with pytest.raises(BTFError, match="no BTF type struct 'color'"):
        btf.find("color", Struct)
    assert btf.find("color", (Struct, Enum))[1].name == "color"
    with pytest.raises(BTFError, match="no BTF type struct/union 'color'"):
        btf.find("color", (Struct, Union))
    with pytest.raises(BTFError, match="no BTF type 'nothing'"):
        btf.find("nothing")
    with pytest.raises(BTFError, match="no BTF type with id 99999"):
        btf[99999]
    with pytest.raises(BTFError, match="no BTF type with id -1"):
        btf[-1]


def build_sample(endian: str) -> BTFBuilder:
    b = BTFBuilder(endian)
    i = b.int_("int", 4, signed=True)                                  # 1
    b.enum("sign", 4, [("NEG", -1), ("POS", 2)], signed=True)           # 2
    b.enum64("big", 8, [("HUGE", 1 << 40), ("MINUS", -5)], signed=True)  # 3
    b.enum64("ubig", 8, [("TOP", (1 << 64) - 1)])                      # 4
    b.float_("long double", 16)                                         # 5
    b.struct("s", 8, [("a", i, 0, 3), ("b", i, 3, 29), ("c", i, 32, 0)])  # 6
    b.restrict(b.ptr(i))                                               # 7, 8
    b.fwd("later", union=True)                                          # 9
    return b


@pytest.mark.parametrize("endian", "<>")
def test_kinds_clang_14_cannot_emit(endian):
    btf = BTF.parse(build_sample(endian).build())
    assert btf.endian == endian
    assert btf[2] == Enum("sign", 4, (("NEG", -1), ("POS", 2)), True)
    assert btf[3] == Enum64("big", 8, (("HUGE", 1 << 40), ("MINUS", -5)), True)
    assert btf[4].values == (("TOP", (1 << 64) - 1),) and not btf[4].signed
    assert btf[5] == Float("long double", 16)
    assert [(m.bit_offset, m.bitfield_size) for m in btf[6].members] == \
        [(0, 3), (3, 29), (32, 0)]
    assert btf.c_name(8) == "int * restrict"
    assert btf[9] == Fwd("later", True) and btf.c_name(9) == "union later"


def test_split_btf_continues_the_base_ids_and_strings():
    base = BTF.parse(build_sample("<").build())
    split_builder = BTFBuilder("<", base_types=len(base), base_strings=base._strings_len)
    mod = split_builder.struct("module_thing", 4, [("field", 1, 0, 0)])
    split_builder.ptr(mod)
    split = BTF.parse(split_builder.build(), base=base)
    assert mod == len(base) and len(split) == len(base) + 2
    assert split[mod].members[0].name == "field"
    assert split.c_name(mod + 1) == "struct module_thing *"
    assert split.c_name(split[mod].members[0].type) == "int"        # a base type
    assert split.find("sign") == base.find("sign")
    with pytest.raises(BTFError, match="differ in byte order"):
        BTF.parse(split_builder.build().replace(b"\x9f\xeb", b"\xeb\x9f", 1), base=base)


def test_int_encoding_bits_and_offset():
    b = BTFBuilder()
    b.int_("u3", 4, bits=3, offset=2)
    b.int_("char", 1, signed=True, char=True)
    btf = BTF.parse(b.build())
    assert (btf[1].bits, btf[1].offset) == (3, 2)
    assert btf[2].char and btf[2].signed


def test_broken_blobs_raise_btf_error():
    good = build_sample("<").build()
    with pytest.raises(BTFError, match="too short"):
        BTF.parse(b"\x9f\xeb")
    with pytest.raises(BTFError, match="bad magic"):
        BTF.parse(bytes(32))
    with pytest.raises(BTFError, match="truncated"):
        BTF.parse(good[:-10])
    unknown = BTFBuilder()
    unknown._add(25, "", 0, 0)
    with pytest.raises(BTFError, match="unknown kind 25"):
        BTF.parse(unknown.build())
    # A struct claiming more members than the type section holds.
    runs_over = BTFBuilder()
    runs_over._add(4, "s", 5, 4)
    with pytest.raises(BTFError, match="past the end|truncated"):
        BTF.parse(runs_over.build())
    bad_string = BTFBuilder()
    bad_string.int_("int", 4)
    blob = bytearray(bad_string.build())
    blob[24:28] = (0xFFFF).to_bytes(4, "little")         # the int's name offset
    with pytest.raises(BTFError, match="string offset 65535"):
        BTF.parse(bytes(blob))
    with pytest.raises(BTFError, match="no .BTF|not a valid ELF"):
        BTF.from_elf(b"\x7fELF" + bytes(60))
    with pytest.raises(BTFError, match="cannot read BTF from /nonexistent"):
        BTF.from_file("/nonexistent")


def test_object_without_btf(tmp_path):
    import shutil
    import subprocess
    if shutil.which("llvm-objcopy") is None:
        pytest.skip("needs llvm-objcopy to strip .BTF from the fixture")
    stripped = tmp_path / "no_btf.o"
    subprocess.run(["llvm-objcopy", "--remove-section=.BTF", "--remove-section=.rel.BTF",
                    "--remove-section=.BTF.ext", "--remove-section=.rel.BTF.ext",
                    str(OBJECTS["little"]), str(stripped)], check=True)
    with pytest.raises(BTFError, match="no .BTF section"):
        BTF.from_elf(stripped.read_bytes())


def test_kernel_btf():
    path = Path("/sys/kernel/btf/vmlinux")
    if not path.exists():
        pytest.skip("this kernel exposes no BTF at /sys/kernel/btf/vmlinux")
    btf = BTF.from_file(str(path))      # its speed is bench/'s, not a test's
    assert len(btf) > 10000
    task_id, task = btf.find("task_struct", Struct)
    assert task.size > 1000 and btf.c_name(task_id) == "struct task_struct"
    pid = next(m for m in task.members if m.name == "pid")
    assert btf.c_name(pid.type) == "pid_t" and btf.sizeof(pid.type) == 4
    comm = next(m for m in task.members if m.name == "comm")
    assert btf.c_name(comm.type) == "char[16]"


def test_c_name_says_each_qualifier_once():
    b = BTFBuilder()
    char = b.int_("char", 1, signed=True, char=True)
    const_char = b.const(char)
    index = b.int_("int", 4, signed=True)
    const_array = b.const(b.array(const_char, index, 8))
    const_ptr = b.const(b.ptr(const_char))
    volatile_const = b.volatile(b.const(index))
    array_ptr = b.ptr(b.array(index, index, 4))
    variadic = b.ptr(b.func_proto(index, [("fmt", b.ptr(const_char)), ("", 0)]))
    btf = BTF.parse(b.build())
    assert btf.c_name(array_ptr) == "int (*)[4]"
    assert btf.c_name(variadic) == "int (*)(const char *, ...)"
    assert btf.c_name(const_array) == "const char[8]"
    assert btf.c_name(const_ptr) == "const char * const"
    assert btf.c_name(volatile_const) == "volatile const int"


def test_fixup_matches_libbpf():
    """Every type, DATASECs included, as libbpf itself fixes them up at open time (which
    needs no privilege); only the extern .kconfig differs: libbpf lays out externs later."""
    try:
        from eunomia.runtime import BpfObject
        raw = OBJECTS["little"].read_bytes()
        with BpfObject.open(raw, name="btf_shapes") as obj:
            theirs = obj.btf
    except (ImportError, OSError) as exc:
        pytest.skip(f"libbpf is not usable here: {exc}")
    ours = BTF.from_elf(raw)
    differ = [i for i, (a, b) in enumerate(zip(ours.types, theirs.types)) if a != b]
    assert len(ours) == len(theirs)
    assert {ours[i].name for i in differ} <= {"CONFIG_HZ", ".kconfig"}
