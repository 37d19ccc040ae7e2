"""The package format: round trips, every validation error, and every kind of source."""

from __future__ import annotations

import base64
import http.server
import io
import json
import socket
import struct
import sys
import threading
import zlib

import pytest
import yaml

from eunomia.errors import PackageError, SourceError
from eunomia.package import MAX_PACKAGE_BYTES, ExportType, MapMeta, Package


def fake_bpf_elf(payload: bytes = b"") -> bytes:
    """Enough of an ELF header for the format's checks: magic, little endian, EM_BPF."""
    header = bytearray(64)
    header[:7] = b"\x7fELF\x02\x01\x01"
    struct.pack_into("<HH", header, 16, 1, 247)  # e_type ET_REL, e_machine EM_BPF
    return bytes(header) + payload


ELF = fake_bpf_elf(b"some code" * 50)


def package_doc(elf: bytes = ELF) -> dict:
    """A package as eunomia-bpf's ecc writes it, with a few keys of our own."""
    return {
        "bpf_object": base64.b64encode(zlib.compress(elf)).decode(),
        "bpf_object_size": len(elf),
        "meta": {
            "bpf_skel": {
                "obj_name": "bootstrap_bpf",
                "doc": {"brief": "trace exec", "version": "0.1.0", "author": "me"},
                "data_sections": [{"name": ".rodata", "variables": [
                    {"name": "min_duration_ns", "type": "unsigned long long",
                     "description": "min duration",
                     "cmdarg": {"short": "d", "default": 0, "long": "min-ns", "help": "h"}},
                    {"name": "targ_pid", "type": "int", "value": 5, "mine": [1, 2]}]}],
                "maps": [
                    {"name": "exec_start", "ident": "exec_start",
                     "sample": {"interval": 1000, "type": "log2_hist", "unit": "usecs",
                                "clear_map": True, "base": 3}},
                    {"name": "rb", "ident": "rb", "export_config": {"btf_type_id": 321}},
                    {"name": "bootstra.rodata", "ident": "rodata", "mmaped": True}],
                "progs": [{"name": "handle_exec", "attach": "tp/sched/sched_process_exec",
                           "link": True, "ifname": "lo"}],
                "unknown_skel_key": {"kept": True},
            },
            "export_types": [{"name": "event", "size": 24, "type_id": 321,
                              "members": [{"name": "pid", "type": "int"},
                                          {"name": "comm", "type": "char[16]"}]}],
            "eunomia_version": "0.3.3",
            "enable_multiple_export_types": True,
            "unknown_meta_key": 1,
        },
        "unknown_top_key": "x",
    }


# -- round trips ---------------------------------------------------------------------------

def test_reads_eunomia_package_fields():
    pkg = Package.from_dict(package_doc())
    assert pkg.bpf_object == ELF
    skel = pkg.meta.bpf_skel
    assert skel.obj_name == "bootstrap_bpf"
    assert skel.doc.brief == "trace exec" and skel.doc.extra == {"author": "me"}
    variable = skel.data_sections[0].variables[0]
    assert (variable.cmdarg.short, variable.cmdarg.long, variable.cmdarg.default) == \
        ("d", "min-ns", 0)
    assert skel.data_sections[0].variables[1].value == 5
    assert skel.maps[0].sample.type == "log2_hist" and skel.maps[0].sample.extra == {"base": 3}
    assert skel.maps[2].mmaped is True
    assert skel.progs[0].attach == "tp/sched/sched_process_exec"
    assert skel.progs[0].extra == {"ifname": "lo"}
    assert pkg.meta.export_types[0] == ExportType.from_dict(
        package_doc()["meta"]["export_types"][0], "x")
    assert pkg.meta.poll_timeout_ms == 100 and pkg.meta.perf_buffer_pages == 64
    assert pkg.meta.perf_buffer_time_ms == 10 and pkg.meta.print_header is True


def _without_defaults(doc: dict) -> dict:
    meta = doc["meta"]
    for key in ("poll_timeout_ms", "perf_buffer_pages", "perf_buffer_time_ms",
                "debug_verbose", "print_header"):
        meta.pop(key)
    return doc


def test_json_round_trip_reads_back_equal():
    pkg = Package.from_dict(package_doc())
    assert Package.from_dict(json.loads(pkg.to_json())) == pkg
    assert Package.load(pkg.to_json(indent=2)) == pkg


def test_json_round_trip_keeps_every_key():
    # the object is recompressed (maybe at another level): compare it decompressed
    pkg = Package.from_dict(package_doc())
    written = json.loads(pkg.to_json())
    original = package_doc()
    assert zlib.decompress(base64.b64decode(written.pop("bpf_object"))) == ELF
    original.pop("bpf_object")
    assert _without_defaults(written) == original


def test_yaml_and_json_carry_the_same_content():
    pkg = Package.from_dict(package_doc())
    from_yaml = yaml.safe_load(pkg.to_yaml())
    assert from_yaml == json.loads(pkg.to_json())
    assert Package.load(pkg.to_yaml().encode()) == pkg


def test_unknown_keys_are_written_back():
    written = Package.from_dict(package_doc()).to_dict()
    assert written["unknown_top_key"] == "x"
    assert written["meta"]["unknown_meta_key"] == 1
    assert written["meta"]["bpf_skel"]["unknown_skel_key"] == {"kept": True}
    assert written["meta"]["bpf_skel"]["data_sections"][0]["variables"][1]["mine"] == [1, 2]


def test_null_maps_and_progs_stay_null():
    doc = package_doc()
    doc["meta"]["bpf_skel"]["maps"] = None
    doc["meta"]["bpf_skel"]["progs"] = None
    pkg = Package.from_dict(doc)
    assert pkg.meta.bpf_skel.maps is None and pkg.meta.bpf_skel.progs is None
    skel = pkg.to_dict()["meta"]["bpf_skel"]
    assert skel["maps"] is None and skel["progs"] is None


def test_bare_elf_object_is_accepted():
    doc = package_doc()
    doc["bpf_object"] = base64.b64encode(ELF).decode()
    assert Package.from_dict(doc).bpf_object == ELF


def test_base64_with_line_breaks_is_accepted():
    doc = package_doc()
    text = doc["bpf_object"]
    doc["bpf_object"] = "\n".join(text[i:i + 76] for i in range(0, len(text), 76))
    assert Package.from_dict(doc).bpf_object == ELF


def test_save_picks_format_by_suffix(tmp_path):
    pkg = Package.from_dict(package_doc())
    pkg.save(tmp_path / "p.yaml")
    pkg.save(tmp_path / "p.json")
    assert (tmp_path / "p.json").read_text().startswith("{")
    assert not (tmp_path / "p.yaml").read_text().startswith("{")
    assert Package.load(tmp_path / "p.yaml") == Package.load(tmp_path / "p.json") == pkg
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# -- validation ----------------------------------------------------------------------------

def _broken(edit):
    doc = package_doc()
    edit(doc)
    with pytest.raises(PackageError) as info:
        Package.from_dict(doc)
    return str(info.value)


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.pop("meta"), "package: missing 'meta'"),
    (lambda d: d.pop("bpf_object"), "package: missing 'bpf_object'"),
    (lambda d: d.update(bpf_object=5), "package.bpf_object: expected a string, got an integer"),
    (lambda d: d.update(bpf_object_size="9"), "package.bpf_object_size: expected an integer"),
    (lambda d: d["meta"].pop("bpf_skel"), "meta: missing 'bpf_skel'"),
    (lambda d: d["meta"].update(bpf_skel=[]), "meta.bpf_skel: expected an object, got a list"),
    (lambda d: d["meta"]["bpf_skel"].pop("obj_name"), "meta.bpf_skel: missing 'obj_name'"),
    (lambda d: d["meta"]["bpf_skel"]["progs"][0].pop("name"),
     "meta.bpf_skel.progs[0]: missing 'name'"),
    (lambda d: d["meta"]["bpf_skel"]["progs"][0].update(link="yes"),
     "meta.bpf_skel.progs[0].link: expected true or false, got a string"),
    (lambda d: d["meta"]["bpf_skel"]["maps"][1].pop("name"),
     "meta.bpf_skel.maps[1]: missing 'name'"),
    (lambda d: d["meta"]["bpf_skel"]["maps"][0]["sample"].update(type="pie"),
     "meta.bpf_skel.maps[0].sample.type: 'pie' is not one of log2_hist, linear_hist"),
    (lambda d: d["meta"]["bpf_skel"]["maps"][0]["sample"].update(interval=0),
     "meta.bpf_skel.maps[0].sample.interval: must be a positive number"),
    (lambda d: d["meta"]["bpf_skel"]["maps"][1].update(export_config=3),
     "meta.bpf_skel.maps[1].export_config: expected an object or a struct name"),
    (lambda d: d["meta"]["bpf_skel"].update(maps={}),
     "meta.bpf_skel.maps: expected a list"),
    (lambda d: d["meta"]["bpf_skel"]["data_sections"][0]["variables"][0].pop("type"),
     "meta.bpf_skel.data_sections[0].variables[0]: missing 'type'"),
    (lambda d: d["meta"]["bpf_skel"]["data_sections"][0]["variables"][0]["cmdarg"].update(
        short="dd"), "meta.bpf_skel.data_sections[0].variables[0].cmdarg.short: a short flag"),
    (lambda d: d["meta"]["bpf_skel"]["data_sections"][0]["variables"][0].update(cmdarg="p"),
     "meta.bpf_skel.data_sections[0].variables[0].cmdarg: expected an object, got a string"),
    (lambda d: d["meta"]["bpf_skel"].update(doc={"brief": ["x"]}),
     "meta.bpf_skel.doc.brief: expected a string, got a list"),
    (lambda d: d["meta"]["export_types"][0].pop("type_id"),
     "meta.export_types[0]: missing 'type_id'"),
    (lambda d: d["meta"]["export_types"][0]["members"][1].pop("type"),
     "meta.export_types[0].members[1]: missing 'type'"),
    (lambda d: d["meta"]["export_types"][0].update(size=-1),
     "meta.export_types[0]: size and type_id must not be negative"),
    (lambda d: d["meta"].update(poll_timeout_ms=0), "meta.poll_timeout_ms: must be from 1 to 60000, not 0"),
    (lambda d: d["meta"].update(perf_buffer_pages="64"),
     "meta.perf_buffer_pages: expected an integer, got a string"),
])
def test_validation_names_the_path(edit, message):
    assert message in _broken(edit)


def test_skeleton_without_object_is_explained():
    doc = package_doc()["meta"]
    with pytest.raises(PackageError, match=r"skeleton \(\.skel\.json\) without its object"):
        Package.from_dict(doc)


def test_size_mismatch_says_truncated():
    message = _broken(lambda d: d.update(bpf_object_size=5678))
    assert message == (f"bpf_object is {len(ELF)} bytes but bpf_object_size says 5678 "
                       "(truncated package?)")


def test_truncated_object_text():
    message = _broken(lambda d: d.update(bpf_object=d["bpf_object"][:40]))
    assert "bpf_object: not zlib-compressed data" in message and "truncated" in message


def test_bad_base64():
    assert "bpf_object: not valid base64" in _broken(lambda d: d.update(bpf_object="%%%%"))


def test_bad_zlib():
    junk = base64.b64encode(b"definitely not zlib data").decode()
    assert "bpf_object: not zlib-compressed data" in _broken(lambda d: d.update(bpf_object=junk))


def test_not_an_elf():
    data = b"just some text, no ELF"
    message = _broken(lambda d: d.update(bpf_object=base64.b64encode(zlib.compress(data)).decode(),
                                         bpf_object_size=len(data)))
    assert "bpf_object: the object is not an ELF file" in message


def test_elf_of_another_machine():
    other = bytearray(ELF)
    struct.pack_into("<H", other, 18, 62)  # EM_X86_64
    message = _broken(lambda d: d.update(
        bpf_object=base64.b64encode(zlib.compress(bytes(other))).decode()))
    assert "not a BPF object (e_machine 62" in message


def test_not_json_or_yaml():
    with pytest.raises(PackageError, match=r"<bytes>: not JSON or YAML"):
        Package.load(b"{ this is: [not json")
    with pytest.raises(PackageError, match=r"not a package \(JSON or YAML object expected, "
                                           r"got str\)"):
        Package.load(b"just words")
    with pytest.raises(PackageError, match="not UTF-8"):
        Package.load(b"\xff\xfe\x00binary")


def test_errors_from_a_file_name_it(tmp_path):
    path = tmp_path / "broken.json"
    doc = package_doc()
    del doc["meta"]["bpf_skel"]["progs"][0]["name"]
    path.write_text(json.dumps(doc))
    with pytest.raises(PackageError, match=r"broken\.json: meta\.bpf_skel\.progs\[0\]: "
                                           r"missing 'name'"):
        Package.load(path)


def test_a_program_without_attach_is_accepted_as_eunomia_bpf_does():
    """eunomia-bpf's loader attaches by the ELF section; `attach` is optional here."""
    doc = package_doc()
    del doc["meta"]["bpf_skel"]["progs"][0]["attach"]
    doc["meta"]["bpf_skel"]["progs"][0]["tchook"] = {"ifindex": 1}     # kept, not refused
    pkg = Package.load(json.dumps(doc).encode())
    prog = pkg.meta.bpf_skel.progs[0]
    assert prog.attach is None and prog.extra["tchook"] == {"ifindex": 1}
    again = pkg.to_dict()["meta"]["bpf_skel"]["progs"][0]
    assert "attach" not in again and again["tchook"] == {"ifindex": 1}


# -- sources -------------------------------------------------------------------------------

def test_load_from_path_and_directory(tmp_path):
    (tmp_path / "package.json").write_text(json.dumps(package_doc()))
    assert Package.load(tmp_path / "package.json").bpf_object == ELF
    assert Package.load(str(tmp_path)).bpf_object == ELF


def test_load_from_directory_with_yaml_only(tmp_path):
    (tmp_path / "package.yaml").write_text(yaml.safe_dump(package_doc()))
    assert Package.load(tmp_path).meta.bpf_skel.obj_name == "bootstrap_bpf"


def test_load_from_empty_directory(tmp_path):
    with pytest.raises(SourceError, match="directory holds no package.json or package.yaml"):
        Package.load(tmp_path)


def test_load_missing_file(tmp_path):
    with pytest.raises(SourceError, match=r"cannot read .*nowhere\.json: No such file"):
        Package.load(tmp_path / "nowhere.json")


def test_load_from_bytes_and_text():
    text = json.dumps(package_doc())
    assert Package.load(text.encode()).bpf_object == ELF
    assert Package.load(text).bpf_object == ELF


def test_load_from_stdin(monkeypatch):
    stdin = io.TextIOWrapper(io.BytesIO(json.dumps(package_doc()).encode()))
    monkeypatch.setattr(sys, "stdin", stdin)
    assert Package.load("-").bpf_object == ELF


@pytest.fixture
def serve():
    servers = []

    def start(body: bytes, path: str = "/package.json") -> str:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path != path:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}{path}"
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_load_from_url(serve):
    url = serve(json.dumps(package_doc()).encode())
    assert Package.load(url).bpf_object == ELF


def test_url_not_found(serve):
    url = serve(b"{}").replace("package.json", "other.json")
    with pytest.raises(SourceError, match=r"cannot fetch http://127\.0\.0\.1:\d+/other\.json: "
                                          r"HTTP 404"):
        Package.load(url)


def test_unreachable_url():
    with socket.socket() as sock:  # a port nothing listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        url = f"http://127.0.0.1:{port}/package.json"
        with pytest.raises(SourceError, match=rf"cannot fetch {url}: .*refused"):
            Package.load(url)


def test_url_size_cap(serve, monkeypatch):
    monkeypatch.setattr("eunomia.package.source.MAX_PACKAGE_BYTES", 100)
    url = serve(b" " * 200)
    with pytest.raises(SourceError, match="larger than"):
        from eunomia.package.source import fetch_url
        fetch_url(url, limit=100)
    assert MAX_PACKAGE_BYTES == 64 * 1024 * 1024


def test_map_meta_export_config_kinds():
    assert MapMeta.from_dict({"name": "rb", "export_config": "event"}, "m").export_config == \
        "event"
    assert MapMeta.from_dict({"name": "rb"}, "m").ident is None
