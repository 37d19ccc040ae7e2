"""The package format (package.json / package.yaml), compatible with eunomia-bpf's.

    from eunomia.package import Package
    pkg = Package.load("package.json")
    print(pkg.meta.bpf_skel.obj_name, [p.attach for p in pkg.meta.bpf_skel.progs or []])
"""

from .bpf_object import decode_bpf_object, encode_bpf_object
from .meta import (
    SAMPLE_TYPES,
    BpfSkel,
    CmdArg,
    DataSection,
    Doc,
    ExportMember,
    ExportType,
    MapMeta,
    Meta,
    ProgMeta,
    Sample,
    Variable,
)
from .package import Package, write_atomically
from .source import MAX_PACKAGE_BYTES, fetch_url

__all__ = [
    "MAX_PACKAGE_BYTES",
    "SAMPLE_TYPES",
    "BpfSkel",
    "CmdArg",
    "DataSection",
    "Doc",
    "ExportMember",
    "ExportType",
    "MapMeta",
    "Meta",
    "Package",
    "ProgMeta",
    "Sample",
    "Variable",
    "decode_bpf_object",
    "encode_bpf_object",
    "fetch_url",
    "write_atomically",
]
