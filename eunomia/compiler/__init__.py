"""ecc: compile a libbpf-style BPF C source into a portable package.

    from eunomia.compiler import compile
    pkg = compile("exitsnoop.bpf.c", "exitsnoop.h", outdir="build")

Choices, and how they relate to eunomia-bpf's own ecc:

- `obj_name` is the source name up to its first dot (`exitsnoop`); eunomia's bpftool-made
  skeleton says `exitsnoop_bpf`. Either loads the same.
- The struct an output map carries is written on the map as `export_config: {"type":
  NAME, "btf_type_id": ID}`: eunomia-bpf's runtime reads `btf_type_id` (with
  `enable_multiple_export_types`, which ecc sets when there are several export types),
  ours reads the name.
- Header structs the program never uses are kept in BTF by pointer variables in a section
  of their own (`.eunomia.export`) rather than eunomia's `.rodata`/`.bss` dummies, so they
  never become data-section variables; libbpf 1.1 skips the section at open.
- `--header-only` (eunomia: "treat the header as the source") compiles just the header and
  yields its export types; nothing is written.
"""

from .build import compile, find_header, object_name
from .doccomments import parse_doc_lines, scan_doc_comments
from .toolchain import find_toolchain, target_arch

__all__ = ["compile", "find_header", "find_toolchain", "object_name", "parse_doc_lines",
           "scan_doc_comments", "target_arch"]
