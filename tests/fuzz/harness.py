"""What a package goes through before anything touches the kernel, for the fuzz tests:
read it, parse its ELF and BTF, build its flags, its record codecs and decode a record.
Any error must be an EunomiaError (one clear line for the user), never another
exception, a hang or unbounded memory."""

from __future__ import annotations

import base64
import json
import zlib


def read_everything(content: bytes) -> None:
    """Every spec-side reader over one package (bytes of package.json)."""
    from eunomia.errors import EunomiaError
    from eunomia.events import record_codec
    from eunomia.kinds import EVENT_MAP_TYPE_NAMES
    from eunomia.package import Package
    from eunomia.session.flags import program_parser
    from eunomia.variables import global_variables

    package = Package.load(content)
    btf = package.btf()
    global_variables(package)
    program_parser(package)[0].format_help()
    for map_meta in package.meta.bpf_skel.maps or []:
        codec, _ = record_codec(package, btf, map_meta.name)
        size = min(max(codec.size, 1), 1 << 20)     # the readers must refuse larger ones
        record = (bytes(range(256)) * (1 + size // 256))[:size]
        try:
            codec.to_json(codec.decode(record))
        except EunomiaError:
            pass
    del EVENT_MAP_TYPE_NAMES


def with_object(doc: dict, elf: bytes) -> bytes:
    """The package document `doc` carrying `elf` as its object."""
    doc = dict(doc)
    doc["bpf_object"] = base64.b64encode(zlib.compress(elf)).decode()
    doc["bpf_object_size"] = len(elf)
    return json.dumps(doc).encode()


def object_of(doc: dict) -> bytes:
    return zlib.decompress(base64.b64decode(doc["bpf_object"]))


def btf_span(elf: bytes) -> tuple[int, int]:
    """(offset, size) of the .BTF section in `elf`."""
    from eunomia.elf import Elf
    section = Elf(elf).section(".BTF")
    return section.offset, section.size
