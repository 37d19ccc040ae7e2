"""`ecc`: compile a BPF C source (and the header of its event structs) into a package."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .. import __version__
from ..errors import CompileError, EunomiaError
from .guard import print_error

EXAMPLES = """\
examples:
  ecc exitsnoop.bpf.c                    # header exitsnoop.h found beside the source
  ecc exitsnoop.bpf.c exitsnoop.h -o build
  ecc tool.bpf.c -a -DDEBUG -a -I../include -y
  ecc --header-only exitsnoop.h          # print the export types of a header
  ecc exitsnoop.bpf.c --standalone -o exitsnoop-tool   # one executable: sudo ./exitsnoop-tool

then run it:  ecli run package.json

Doc comments (`///` lines) in the source become metadata: on a global variable
`@cmdarg {"short": "p", "default": 0, "help": "..."}`; on a ring buffer or perf event
array `@export struct_name`; on a map `@sample {"interval": 1000, "type": "log2_hist"}`;
on `char LICENSE[]` the program's `@brief`, `@details`, `@version`.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ecc", description="Compile an eBPF program (libbpf style, CO-RE) into one "
        "portable package.json that `ecli run` loads on any kernel with BTF.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-V", "--version", action="version", version=f"ecc {__version__}")
    parser.add_argument("source", metavar="SRC.bpf.c", help="the BPF C source "
                        "(with --header-only: the header)")
    parser.add_argument("header", metavar="HEADER.h", nargs="?",
                        help="header defining the structs sent to user space "
                        "(default: <name>.h or <name>.bpf.h beside the source)")
    parser.add_argument("-o", "--output", metavar="OUTDIR",
                        help="where to write package.json, <name>.skel.json and <name>.bpf.o "
                        "(default: the source's directory)")
    parser.add_argument("-y", "--yaml", action="store_true",
                        help="also write package.yaml")
    parser.add_argument("-a", "--additional-cflags", metavar="CFLAG", action="append",
                        default=[], help="an extra flag for clang (repeatable), "
                        "e.g. -a -DDEBUG or -a=-I../include")
    parser.add_argument("-c", "--clang", metavar="CLANG",
                        help="clang binary to use (default: $CLANG, clang, clang-<version>)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show the clang command and timings on stderr")
    parser.add_argument("-s", "--standalone", action="store_true",
                        help="also write one executable that runs the program with no "
                        "separate ecli (needs only python3 and libbpf where it runs): "
                        "OUTDIR/<name>, or -o TOOL when TOOL is not a directory")
    parser.add_argument("--btfgen", metavar="ARCHIVE_DIR",
                        help="also write <name>.tar (eunomia-bpf's tar package): the package "
                        "plus, for every kernel BTF in ARCHIVE_DIR (BTFHub's layout), the "
                        "little of it the program needs, for kernels without BTF")
    parser.add_argument("--wasm-header", action="store_true",
                        help="also write <name>.wasm.h (the compiled object as bytes, with "
                        "its program and map names) and wasm-bpf.h (the host functions) "
                        "for a Wasm guest that loads it: docs/wasm.md")
    parser.add_argument("--header-only", action="store_true",
                        help="compile only the header and print its export types as JSON "
                        "(no program, no files written)")
    return parser


def _split_cflags(values: list[str]) -> list[str]:
    """`-a "-DX -DY"` gives two flags, as eunomia's ecc does."""
    flags: list[str] = []
    for value in values:
        flags.extend(value.split())
    return flags


def _join_cflag_values(argv: list[str]) -> list[str]:
    """`-a -DX` -> `-a=-DX`: argparse would take a value starting with '-' for an option."""
    joined: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg in ("-a", "--additional-cflags"):
            value = next(args, None)
            joined.append(arg if value is None else f"{arg}={value}")
        else:
            joined.append(arg)
    return joined


class _StepFormatter(logging.Formatter):
    """ecc's own steps prefixed `ecc:`; clang's warnings left exactly as clang wrote them."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        return message if record.levelno >= logging.WARNING else f"ecc: {message}"


def main(argv=None) -> int:
    """Entry point of the `ecc` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(_join_cflag_values(argv))
    from ..compiler import compile as compile_package

    # clang's warnings always (as clang printed them), ecc's steps with -v
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_StepFormatter())
    logger = logging.getLogger("eunomia.compiler")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if args.verbose else logging.WARNING)
    try:
        return _compile(args, compile_package)
    finally:
        logger.removeHandler(handler)


def _standalone_target(args) -> tuple[str | None, Path | None]:
    """(OUTDIR for the package files, the tool's path) for --standalone: `-o TOOL` names
    the tool unless it is a directory (then the tool is OUTDIR/<name>)."""
    if not args.standalone:
        return args.output, None
    from ..compiler import object_name
    name = object_name(Path(args.source))
    if args.output and not Path(args.output).is_dir() and not args.output.endswith("/"):
        tool = Path(args.output)
        return str(tool.parent), tool
    outdir = Path(args.output) if args.output else Path(args.source).parent
    return str(outdir), outdir / name


def _compile(args, compile_package) -> int:
    if (args.standalone or args.btfgen or args.wasm_header) and args.header_only:
        print("ecc: error: --standalone, --btfgen and --wasm-header write files: not with "
              "--header-only",
              file=sys.stderr)
        return 1
    outdir, tool = _standalone_target(args)
    args.output = outdir
    try:
        package = compile_package(args.source, args.header, outdir=args.output,
                                  cflags=_split_cflags(args.additional_cflags),
                                  clang=args.clang, verbose=args.verbose, yaml=args.yaml,
                                  header_only=args.header_only)
    except CompileError as exc:
        if exc.diagnostics:
            sys.stderr.write(exc.diagnostics if exc.diagnostics.endswith("\n")
                             else exc.diagnostics + "\n")
        print_error("ecc", exc)
        return 1
    except EunomiaError as exc:
        print_error("ecc", exc)
        return 1
    if args.header_only:
        try:
            print(json.dumps([t.to_dict() for t in package.meta.export_types], indent=2))
        except BrokenPipeError:  # `ecc --header-only x.h | head`
            sys.stderr.close()
    else:
        out = Path(args.output) if args.output else Path(args.source).parent
        print(f"ecc: wrote {out / 'package.json'} ({package.meta.bpf_skel.obj_name})",
              file=sys.stderr)
    if args.wasm_header:
        from ..compiler.wasm_header import write_wasm_header
        print(f"ecc: wrote {write_wasm_header(package, out)}", file=sys.stderr)
    if args.btfgen:
        from ..compiler.btfgen import write_btfgen_package
        from ..compiler.toolchain import find_toolchain
        name = package.meta.bpf_skel.obj_name
        try:
            written, kernels = write_btfgen_package(
                package.to_json().encode(), out / f"{name}.bpf.o", Path(args.btfgen),
                find_toolchain(args.clang).require_bpftool(), out / f"{name}.tar")
        except CompileError as exc:
            if exc.diagnostics:
                sys.stderr.write(exc.diagnostics.rstrip("\n") + "\n")
            print_error("ecc", exc)
            return 1
        print(f"ecc: wrote {written} ({kernels} kernel BTF file(s))", file=sys.stderr)
    if tool is not None:
        from ..compiler.standalone import write_standalone
        try:
            write_standalone(package.to_json().encode(), tool.name, tool)
        except EunomiaError as exc:
            print_error("ecc", exc)
            return 1
        print(f"ecc: wrote {tool} (run it: sudo {tool if tool.is_absolute() else './' + str(tool)}"
              " [flags])", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
