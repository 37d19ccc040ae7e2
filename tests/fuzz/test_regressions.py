"""Every cause the fuzzing found (and the hostile inputs of the hardening issue), each as
one input: the reader answers with one EunomiaError that says what is wrong."""

from __future__ import annotations

import base64
import contextlib
import http.server
import io
import json
import os
import struct
import tarfile
import threading
import time
import zlib

import pytest

from eunomia.btf import BTF
from eunomia.decode import compile_codec
from eunomia.errors import (
    ArgumentError,
    BTFError,
    DecodeError,
    EunomiaError,
    PackageError,
    SourceError,
)
from eunomia.package import Package
from eunomia.package.btfarchive import btf_from
from tests.fuzz.harness import object_of, read_everything, with_object
from tests.unit.fixtures.btf_builder import BTFBuilder


@pytest.fixture(scope="module")
def seed(fuzz_packages):
    return json.loads(fuzz_packages["exitsnoop"].read_bytes())


def _section_header(elf: bytes, wanted_type: int) -> int:
    """Offset of the first section header of type `wanted_type`."""
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", elf, 0x3A)
    for index in range(shnum):
        at = shoff + index * shentsize
        if struct.unpack_from("<I", elf, at + 4)[0] == wanted_type:
            return at
    raise AssertionError("no such section")


# -- ELF ---------------------------------------------------------------------------------

def test_a_symbol_table_linked_past_the_sections(seed):
    elf = bytearray(object_of(seed))
    struct.pack_into("<I", elf, _section_header(elf, 2) + 40, 0xFFFF)    # sh_link
    with pytest.raises(BTFError, match="not a valid ELF object: the symbol table or its "
                                       "string table lies outside the file"):
        read_everything(with_object(seed, bytes(elf)))


def test_a_section_out_of_the_file(seed):
    elf = bytearray(object_of(seed))
    struct.pack_into("<Q", elf, _section_header(elf, 2) + 24, 1 << 62)    # sh_offset
    with pytest.raises(BTFError, match="not a valid ELF object: the symbol table"):
        read_everything(with_object(seed, bytes(elf)))


def test_a_bss_of_a_terabyte(seed):
    from eunomia.elf import SHT_NOBITS, Elf, Section
    elf = Elf(object_of(seed))
    with pytest.raises(PackageError, match="claims 1099511627776 bytes"):
        elf.section_data(Section(".bss", SHT_NOBITS, 3, 0, 1 << 40, 0, 0))


# -- BTF ---------------------------------------------------------------------------------

def test_an_integer_of_a_gigabyte():
    b = BTFBuilder()
    b.int_("huge", 1 << 30, bits=32)
    with pytest.raises(BTFError, match="an integer of 1073741824 bytes"):
        BTF.parse(b.build())


def test_an_integer_of_no_bits():
    """Its decoder would shift by -1."""
    b = BTFBuilder()
    b.int_("none", 4, bits=0)
    with pytest.raises(BTFError, match="an integer of 4 bytes and 0 bits"):
        BTF.parse(b.build())


def test_a_typedef_of_itself():
    b = BTFBuilder()
    b.typedef("loop", 1)
    with pytest.raises(BTFError, match="refers to itself"):
        BTF.parse(b.build())


def test_a_struct_that_holds_itself():
    b = BTFBuilder()
    b.struct("matryoshka", 8, [("inner", 1, 0, 0)])
    with pytest.raises(BTFError, match="contains itself"):
        BTF.parse(b.build())


def test_a_struct_that_points_to_itself_is_fine():
    b = BTFBuilder()
    node = b.struct("node", 8, [("next", 2, 0, 0)])
    b.ptr(node)
    btf = BTF.parse(b.build())
    assert btf.c_name(2) == "struct node *"


def test_a_reference_to_no_type():
    b = BTFBuilder()
    b.ptr(99)
    with pytest.raises(BTFError, match="refers to type 99, which does not exist"):
        BTF.parse(b.build())


def test_an_array_of_zero_size_elements():
    """Its decoder would loop a billion times making nothing."""
    b = BTFBuilder()
    empty = b.struct("empty", 0, [])
    u32 = b.int_("u32", 4)
    many = b.array(empty, u32, 1 << 30)
    with pytest.raises(DecodeError, match="1073741824 elements of zero size"):
        compile_codec(BTF.parse(b.build()), many)


def test_a_struct_dag_costs_its_size_not_its_paths():
    """Each level holds the one below twice: 2**20 paths through 20 types. Decoders
    inline members up to a budget, then call the nested struct's own decoder."""
    b = BTFBuilder()
    t, size = b.int_("u32", 4), 4
    for level in range(20):
        t = b.struct(f"s{level}", size * 2, [("a", t, 0, 0), ("b", t, size * 8, 0)])
        size *= 2
    codec = compile_codec(BTF.parse(b.build()), t)   # took minutes and gigabytes
    record = codec.decode(struct.pack("<I", 7) + bytes(codec.size - 4))
    leaf = record
    while not isinstance(leaf, int):
        leaf = leaf["a"]
    assert leaf == 7


def test_an_array_of_eight_gigabytes():
    b = BTFBuilder()
    u32 = b.int_("u32", 4)
    huge = b.array(u32, u32, 1 << 31)
    with pytest.raises(DecodeError, match="more than any value eunomia decodes"):
        compile_codec(BTF.parse(b.build()), huge)


# -- meta --------------------------------------------------------------------------------

@pytest.mark.parametrize("edit, message", [
    (lambda m: m["bpf_skel"]["maps"][0].update(export_config={"type": 5}),
     "export_config.type: expected a struct name"),
    (lambda m: m["bpf_skel"]["maps"][0].update(export_config={"btf_type_id": "7"}),
     "export_config.btf_type_id: expected a BTF type id"),
    (lambda m: m.update(perf_buffer_pages=1 << 30), "perf_buffer_pages: must be from 1"),
    (lambda m: m.update(perf_buffer_pages=3), "perf_buffer_pages: must be a power of two"),
    (lambda m: m.update(poll_timeout_ms=10 ** 12), "poll_timeout_ms: must be from 1 to 60000"),
    (lambda m: m["export_types"][0].update(size=4096), "size 4096 but the object's struct"),
    (lambda m: m["export_types"][0]["members"].append({"name": "ghost", "type": "int"}),
     "member 'ghost' is not a field of struct event"),
])
def test_packages_that_lie(seed, edit, message):
    doc = json.loads(json.dumps(seed))
    edit(doc["meta"])
    with pytest.raises(PackageError, match=message):
        read_everything(json.dumps(doc).encode())


def test_flags_that_collide_with_ecli_options_are_renamed(seed, caplog):
    from eunomia.session import parse_run_args
    doc = json.loads(json.dumps(seed))
    variable = doc["meta"]["bpf_skel"]["data_sections"][0]["variables"][0]
    variable["cmdarg"] = {"long": "duration", "short": "h", "help": "100% of it"}
    package = Package.load(json.dumps(doc).encode())
    name = variable["name"]
    settings = parse_run_args(package, ["--duration", "2", f"--var.{name}", "7"])
    assert settings.duration == 2 and settings.values[name] == 7
    from eunomia.session.flags import program_parser
    text = " ".join(program_parser(package)[0].format_help().split())
    assert f"--duration is taken: set it with --var.{name}" in text and "100% of it" in text
    # a short flag that collides (-h: ecli's help) is said in a warning, not only in help
    assert f"the package asks for '-h' as the short flag of '{name}', which is taken" in \
        caplog.text


# -- I/O and flags -----------------------------------------------------------------------

@pytest.mark.parametrize("text", ['{"a": ' + "9" * 5000 + "}", "a: " + "9" * 5000 + "\n"])
def test_an_integer_of_five_thousand_digits(text):
    """Python refuses to convert it (a ValueError): one line, as for any bad document."""
    with pytest.raises(PackageError, match="not JSON or YAML"):
        Package.load(text.encode())


def test_a_name_too_long_for_the_system(tmp_path):
    with pytest.raises(SourceError, match="File name too long"):
        Package.load("/" + "a" * 5000)


def test_an_endless_file_is_not_read_at_all():
    with pytest.raises(SourceError, match="/dev/zero: not a regular file"):
        Package.load("/dev/zero")


def test_a_fifo_is_refused_at_once(tmp_path):
    """Opening a FIFO with no writer would block for ever."""
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(SourceError, match="pipe: not a regular file"):
        Package.load(str(tmp_path / "pipe"))


def test_a_sparse_file_of_two_gigabytes_is_refused_by_its_size(tmp_path):
    sparse = tmp_path / "sparse.json"
    with open(sparse, "wb") as out:
        out.truncate(2 << 30)
    with pytest.raises(SourceError, match="larger than 64 MiB"):
        Package.load(str(sparse))
    with pytest.raises(PackageError, match="larger than 256 MiB"):
        btf_from(str(sparse))


def test_a_zlib_bomb_is_refused_at_the_cap(seed):
    """1 MiB of compressed zeros inflates to 1 GiB: reading stops at 64 MiB."""
    doc = dict(seed)
    bomb = zlib.compressobj(9)
    raw = b"".join(bomb.compress(bytes(1 << 24)) for _ in range(64)) + bomb.flush()
    doc["bpf_object"] = base64.b64encode(raw).decode()
    doc["bpf_object_size"] = 1 << 30
    with pytest.raises(PackageError, match="inflates to more than 64 MiB"):
        Package.load(json.dumps(doc).encode())


def test_a_gzip_tar_bomb_is_refused_at_the_cap():
    """A tar package whose members expand past 64 MiB is refused while it is read."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for k in range(3):
            info = tarfile.TarInfo(f"btfhub-archive/x/{k}.btf")
            info.size = 40 << 20
            archive.addfile(info, io.BytesIO(bytes(info.size)))
    with pytest.raises(PackageError, match="expands to more than 64 MiB"):
        Package.load(out.getvalue(), kind="tar")


@pytest.mark.parametrize("part", ["body", "headers"])
def test_a_dripping_url_meets_its_deadline(part):
    """A byte every 0.3 s, of the body or of the headers: each read is in time, the
    whole is not."""
    from eunomia.package.source import fetch_url
    with dripping_server(part=part) as port:
        started = time.monotonic()
        with pytest.raises(SourceError, match="not done within 1 s"):
            fetch_url(f"http://127.0.0.1:{port}/pkg.json", deadline=1.0)
        assert time.monotonic() - started < 10        # not the 18 s the peer would take


@pytest.mark.parametrize("words, message", [
    (["--duration", "nan"], "expected a positive number of seconds, not 'nan'"),
    (["--duration", "-1"], "expected a positive number of seconds"),
    (["--pid", "-5"], "expected a number above 0, not '-5'"),
    (["--queue-size", "lots"], "expected a size such as 16M"),
    (["--queue-size", "9" * 400], "is too large: give at most 64g"),
    (["--record-type", "rb"], "expected MAP=STRUCT"),
])
def test_run_options_out_of_range(seed, words, message):
    from eunomia.session import parse_run_args
    with pytest.raises(ArgumentError, match=message):
        parse_run_args(Package.load(json.dumps(seed).encode()), words)


def test_a_lone_surrogate_in_the_meta_names_its_path(seed):
    doc = json.loads(json.dumps(seed))
    doc["meta"]["bpf_skel"]["obj_name"] = "\ud800x"
    with pytest.raises(PackageError, match=r"meta.bpf_skel.obj_name: not valid Unicode"):
        Package.load(json.dumps(doc).encode())


def test_an_opaque_bitfield_shows_as_a_number():
    """A bitfield read out of a type decoded as raw bytes (long double) is an int."""
    from eunomia.decode.codecs import OpaqueCodec
    codec = OpaqueCodec("long double", 16)
    assert codec.to_json(5) == 5 and codec.to_json(b"\x01\x02") == "0102"


def test_an_exporter_config_that_is_a_fifo_or_a_device(tmp_path):
    from eunomia.exporter.config import ConfigError, load_config
    os.mkfifo(tmp_path / "config.yaml")
    for path in (tmp_path / "config.yaml", "/dev/zero"):
        with pytest.raises(ConfigError, match="not a regular file"):
            load_config(str(path))


# -- libbpf, in a child process (a crash there would take a service down) --------------

@pytest.mark.parametrize("old, new", [
    (b"handle_exit", b"handle\xffexit"),                               # a program's name
    (b"tp/sched/sched_process_exit", b"tp/sched/sched_process_ex\xff\xfe"),   # its section
    (b"rb", b"\xff\xfe"),                                              # a map's name
])
def test_names_that_are_not_utf8_are_one_error_in_libbpf_too(seed, old, new):
    """libbpf opens the object; its names are read strictly, and the object is closed
    exactly once (twice was glibc's "double free" abort, for 73 of 73 such inputs)."""
    from tests.fuzz.harness import open_in_child, rename_in_strtab
    content = with_object(seed, rename_in_strtab(object_of(seed), old, new))
    assert open_in_child(content) is None
    with pytest.raises(EunomiaError):
        read_everything(content)
        Package.load(content).open().close()


@contextlib.contextmanager
def dripping_server(answers_at_once: str = "", part: str = "headers"):
    """A loopback HTTP server that sends a status line, then a byte of a header (or, with
    part="body", of a 1000-byte body) every 0.3 s: each read is in time, the whole never
    is. GET `answers_at_once` is answered at once. Yields its port."""
    class Drip(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == answers_at_once:
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.drip()

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.drip()

        def drip(self):
            self.wfile.write(b"HTTP/1.1 200 OK\r\n" + (b"X-Slow: " if part == "headers"
                                                       else b"Content-Length: 1000\r\n\r\n"))
            for _ in range(60):
                self.wfile.write(b"a")
                self.wfile.flush()
                time.sleep(0.3)

        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Drip)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()


def test_a_registry_that_drips_its_headers_meets_a_deadline(monkeypatch):
    """requests bounds each read, not the whole: the deadline on the status line and
    headers cuts the peer off."""
    from eunomia.errors import RegistryError
    from eunomia.oci import registry as registry_module
    from eunomia.oci.images import Images
    from eunomia.oci.registry import RegistryOptions
    monkeypatch.setattr(registry_module, "HEADERS_DEADLINE_S", 1)
    with dripping_server(answers_at_once="/v2/") as port:  # the registry's ping answers
        started = time.monotonic()
        with pytest.raises(RegistryError, match="no answer within 1 s"):
            Images(RegistryOptions()).pull(f"127.0.0.1:{port}/x/y:1", "always")
        assert time.monotonic() - started < 10       # not the 18 s the peer would take


def test_an_etcd_member_that_drips_its_reply_meets_a_deadline(monkeypatch):
    from eunomia.fleet import store as store_module
    from eunomia.fleet.store import Store, StoreOptions, StoreUnavailable
    monkeypatch.setattr(store_module, "CALL_DEADLINE_S", 1)
    with dripping_server() as port:
        store = Store(StoreOptions([f"http://127.0.0.1:{port}"]))
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="no answer within 1 s"):
            store.get("/eunomia/x")
        assert time.monotonic() - started < 10       # not the 18 s the peer would take


@pytest.mark.skipif(os.geteuid() != 0, reason="ecli run loads programs: needs root")
@pytest.mark.parametrize("flags", [[], ["--json"]])
@pytest.mark.parametrize("command", ["eunomia.cli.ecli", "eunomia.cli.entry"])
def test_a_broken_object_says_the_same_with_and_without_flags(seed, tmp_path, flags,
                                                              command):
    """`ecli run` without flags opens the object before it reads the package's BTF (its
    load starts early; through the installed command's entry, before even the command
    line is read: cli/early.py); what is wrong with a broken object is still said by
    our reader, as with flags, in one line."""
    import subprocess
    import sys
    elf = bytearray(object_of(seed))
    struct.pack_into("<Q", elf, _section_header(elf, 2) + 24, 1 << 62)    # sh_offset
    path = tmp_path / "package.json"
    path.write_bytes(with_object(seed, bytes(elf)))
    shown = subprocess.run([sys.executable, "-m", command, "run", *flags, str(path)],
                           capture_output=True, text=True, timeout=60, check=False)
    assert shown.returncode == 1
    assert shown.stderr.count("\n") == 1 and "Traceback" not in shown.stderr
    assert "not a valid ELF object: the symbol table" in shown.stderr, shown.stderr
