"""`ecc --wasm-header`: the compiled BPF object as a C header, for a Wasm guest that
loads it through the wasm_bpf host functions (docs/wasm.md). Writes NAME.wasm.h (the
object's bytes, its size and its program and map names) and wasm-bpf.h (the host
functions' declarations) beside the package."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from .build import EUNOMIA_INCLUDE

_BYTES_PER_LINE = 16


def _identifier(name: str) -> str:
    return re.sub(r"\W", "_", name)


def variable_offsets(package) -> dict[str, int]:
    """{variable: its offset in the ELF file} of the globals whose initial value the file
    holds (.rodata, .data; not .bss): a guest writes a value there before it loads the
    object, as upstream's skeletons set `rodata` fields."""
    from ..elf import Elf
    from ..variables import global_variables
    elf = Elf(bytes(package.bpf_object))
    found = {}
    for variable in global_variables(package):
        section = elf.section(variable.section)
        if section is not None and section.type != 8:       # SHT_NOBITS: .bss
            found[variable.name] = section.offset + variable.offset
    return found


def wasm_header(name: str, elf: bytes, programs: list[str], maps: list[str],
                variables: dict[str, int] | None = None) -> str:
    ident = _identifier(name)
    lines = [(f"/* {name}.wasm.h, written by `ecc --wasm-header`: the compiled BPF "
             f"object of {name},"),
             " * for a Wasm guest:",
             " *",
             f" *     uint64_t obj = wasm_load_bpf_object({ident}_bpf_object,",
             f" *                                         {ident.upper()}_BPF_OBJECT_SIZE);",
             f" *     for (const char *const *p = {ident}_bpf_programs; *p; p++)",
             " *             wasm_attach_bpf_program(obj, *p, 0);",
             " *",
             " * A global's value is set before the load, at its offset in the object:",
             (f" * memcpy({ident}_bpf_object + {ident.upper()}_BPF_VAR_name, &value, "
             "sizeof(value))."),
             " */",
             f"#ifndef {ident.upper()}_WASM_H", f"#define {ident.upper()}_WASM_H", "",
             '#include "wasm-bpf.h"', "",
             f"#define {ident.upper()}_BPF_OBJECT_SIZE {len(elf)}",
             (f"static unsigned char {ident}_bpf_object[{len(elf)}] "
             "__attribute__((aligned(8))) = {")]
    for start in range(0, len(elf), _BYTES_PER_LINE):
        chunk = elf[start:start + _BYTES_PER_LINE]
        lines.append("\t" + ", ".join(f"0x{b:02x}" for b in chunk) + ",")
    lines.append("};")
    for variable, offset in (variables or {}).items():
        lines.append(f"#define {ident.upper()}_BPF_VAR_{_identifier(variable)} {offset}"
                     "  /* its value's offset in the object */")
    for kind, names in (("programs", programs), ("maps", maps)):
        quoted = ", ".join(f'"{n}"' for n in names)
        lines.append(f"static const char *const {ident}_bpf_{kind}[] = "
                     f"{{{quoted + ', ' if quoted else ''}0}};")
    lines += ["", f"#endif /* {ident.upper()}_WASM_H */", ""]
    return "\n".join(lines)


def write_wasm_header(package, outdir: Path) -> Path:
    """Writes NAME.wasm.h and wasm-bpf.h into `outdir`; returns the first."""
    name = package.meta.bpf_skel.obj_name or "program"
    programs = [p.name for p in package.meta.bpf_skel.progs or []]
    maps = [m.name for m in package.meta.bpf_skel.maps or [] if not m.mmaped]
    path = outdir / f"{name}.wasm.h"
    path.write_text(wasm_header(name, package.bpf_object, programs, maps,
                                variable_offsets(package)))
    shutil.copyfile(EUNOMIA_INCLUDE / "eunomia" / "wasm-bpf.h", outdir / "wasm-bpf.h")
    return path
