"""What a compiled object holds, read from its BTF and ELF symbols: data sections and their
global variables, maps (with their BPF map type), programs, and structs by name."""

from __future__ import annotations

import re

from .. import btf as _btf  # names looked up on use: importing ecc needs no BTF reader
from ..btf.maps import defined_maps
from ..elf import SHF_EXECINSTR, SHT_SYMTAB, STT_FUNC, Elf
from ..errors import CompileError
from ..valueclass import valueclass

BTF_VAR_STATIC = 0
INTERNAL_PREFIX = "__eunomia"
_DATA_SECTION = re.compile(r"^\.(rodata|data|bss)(\..+)?$")
_OBJ_NAME_LEN = 16  # BPF_OBJ_NAME_LEN, with its NUL


def _ref(t) -> int:
    """The type id a Ptr/Array/Member/Var/VarSecInfo refers to."""
    return t.type


@valueclass(frozen=True)
class GlobalVar:
    name: str
    type: str      # C spelling without const/volatile
    section: str


@valueclass(frozen=True)
class MapInfo:
    name: str
    map_type: int | None    # BPF_MAP_TYPE_*, None when the definition says none


@valueclass(frozen=True)
class ProgInfo:
    name: str
    section: str


def is_data_section(name: str) -> bool:
    return bool(_DATA_SECTION.match(name))


def internal_map_name(obj_name: str, section: str) -> str:
    """The name libbpf gives the map of a data section (libbpf's internal_map_name())."""
    suffix_len = max(7, len(section))
    prefix_len = 0 if "." in section[1:] else min(_OBJ_NAME_LEN - suffix_len - 1, len(obj_name))
    name = (obj_name[:max(prefix_len, 0)] + section)[:_OBJ_NAME_LEN - 1]
    return re.sub(r"[^A-Za-z0-9_.]", "_", name)


class ObjectInfo:
    """Reads one BPF ELF object."""

    def __init__(self, elf_bytes: bytes, btf=None):
        self.elf_bytes = elf_bytes
        self.btf = btf if btf is not None else _btf.BTF.from_elf(elf_bytes)

    def _strip_cv(self, type_id: int) -> int:
        while isinstance(self.btf[type_id], (_btf.Const, _btf.Volatile)):
            type_id = _ref(self.btf[type_id])
        return type_id

    def datasecs(self) -> list[tuple[str, list]]:
        result = []
        for t in self.btf.types:
            if isinstance(t, _btf.Datasec):
                result.append((t.name, [self.btf[_ref(info)] for info in t.vars]))
        return result

    def global_variables(self) -> list[GlobalVar]:
        """Non-static globals of the data sections, in BTF order, ecc's own left out."""
        found = []
        for section, variables in self.datasecs():
            if not is_data_section(section):
                continue
            for var in variables:
                if not isinstance(var, _btf.Var) or var.name.startswith(INTERNAL_PREFIX):
                    continue
                if getattr(var, "linkage", 1) == BTF_VAR_STATIC:
                    continue  # not reachable through a skeleton, as in bpftool
                found.append(GlobalVar(var.name, self.btf.c_name(self._strip_cv(_ref(var))),
                                       section))
        return found

    def data_sections(self) -> list[str]:
        return [name for name, _ in self.datasecs() if is_data_section(name)]

    def maps(self) -> list[MapInfo]:
        """Every map defined in the .maps section, with its type from the definition."""
        return [MapInfo(d.name, d.map_type) for d in defined_maps(self.btf)]

    def programs(self) -> list[ProgInfo]:
        """Every function symbol in an executable section other than .text."""
        elf = Elf(bytes(self.elf_bytes))
        if not any(section.type == SHT_SYMTAB for section in elf.sections):
            raise CompileError("the object has no symbol table (stripped with -s?)")
        found = []
        for symbol in elf.symbols():
            if symbol.type != STT_FUNC or not 0 < symbol.section < len(elf.sections):
                continue
            section = elf.sections[symbol.section]
            if section.name == ".text" or not section.flags & SHF_EXECINSTR:
                continue
            found.append(ProgInfo(symbol.name, section.name))
        return found

    def struct(self, name: str) -> tuple[int, object] | None:
        for type_id, t in self.btf.find_all(name):
            if isinstance(t, _btf.Struct):
                return type_id, t
        return None

    def struct_for_spelling(self, spelling: str) -> str | None:
        """"struct event" or a typedef name -> the struct's name, when it is one."""
        if spelling.startswith("struct "):
            name = spelling[len("struct "):]
            return name if self.struct(name) else None
        for type_id, _ in self.btf.find_all(spelling):
            _, t = self.btf.resolve(type_id)
            if isinstance(t, _btf.Struct) and t.name:
                return t.name
        return None

    def members(self, struct) -> list[tuple[str, str]]:
        return [(m.name, self.btf.c_name(_ref(m))) for m in struct.members]
