"""Global variables of a package as specs: where each lives, its codec, its compiled value.

These are what `ecli run` turns into flags and what `Package.open(**values)` sets. Built
from the package alone (ELF + BTF + meta), so `--help` works without touching the kernel.
"""

from __future__ import annotations

from typing import Any

from .btf import Array, Datasec, Enum, Enum64, Float, Int, Var
from .decode import compile_codec
from .decode.build import MAX_DECODED_BYTES
from .elf import Elf
from .errors import PackageError
from .valueclass import valueclass


@valueclass(frozen=True)
class GlobalVariable:
    """A global variable of the program: where it lives in its section, and its type."""

    name: str
    section: str          # ".rodata", ".data", ".bss", ".rodata.foo", ...
    offset: int           # byte offset inside the section
    size: int
    type_id: int
    c_type: str           # C spelling, e.g. "unsigned long long", "char[16]"
    kind: str             # "bool", "int", "float", "enum", "string" or "json"
    codec: Any
    compiled_value: Any   # the value compiled into the object
    description: str = ""
    cmdarg: Any = None    # package.CmdArg or None

    @property
    def read_only(self) -> bool:
        return self.section.startswith(".rodata")


def value_kind(btf, type_id: int, codec) -> str:
    """How a command line spells a value of this type."""
    _, t = btf.resolve(type_id)
    if isinstance(t, Int):
        return "bool" if t.bool else "int"
    if isinstance(t, Float):
        return "float"
    if isinstance(t, (Enum, Enum64)):
        return "enum"
    if isinstance(t, Array) and isinstance(codec.decode(bytes(codec.size)), (str, bytes)):
        return "string"     # char[N] text; u8[N] data, given as text or hex digits
    return "json"


def _section_bytes(elf: Elf, name: str, size: int) -> bytes:
    section = elf.section(name)
    if section is None:
        if size > MAX_DECODED_BYTES:
            raise PackageError(f"data section {name} claims {size} bytes")
        return bytes(size)
    return elf.section_data(section)


def global_variables(package) -> list[GlobalVariable]:
    """Every global variable the package's meta lists, in its order."""
    btf = package.btf()
    elf = Elf(bytes(package.bpf_object))
    placed: dict[tuple[str, str], tuple[int, int, int]] = {}
    sections: dict[str, int] = {}
    for type_id, t in enumerate(btf.types):
        if isinstance(t, Datasec):
            sections[t.name] = t.size
            for info in t.vars:
                var = btf[info.type]
                if isinstance(var, Var):
                    placed[(t.name, var.name)] = (var.type, info.offset, info.size)
    result = []
    for section in package.meta.bpf_skel.data_sections or []:
        if section.name not in sections:
            continue
        data = _section_bytes(elf, section.name, sections[section.name])
        for variable in section.variables:
            if variable.name.startswith("__eunomia"):
                continue    # eunomia-bpf's placeholders that keep export types in BTF
            where = placed.get((section.name, variable.name))
            if where is None:
                raise PackageError(f"variable '{variable.name}' is listed in section "
                                   f"{section.name} but the object's BTF has no such variable")
            type_id, offset, _ = where
            codec = compile_codec(btf, type_id)
            chunk = data[offset:offset + codec.size]
            compiled = codec.decode(chunk) if len(chunk) == codec.size else None
            result.append(GlobalVariable(
                name=variable.name, section=section.name, offset=offset, size=codec.size,
                type_id=type_id, c_type=btf.c_name(type_id),
                kind=value_kind(btf, type_id, codec), codec=codec,
                compiled_value=compiled, description=variable.description or "",
                cmdarg=variable.cmdarg))
    return result
