"""BTF type kinds as small frozen records (see the kernel's Documentation/bpf/btf.rst).

Every type has a `name` ("" when anonymous). Referring types hold a `type` id; member
offsets are in bits.
"""

from __future__ import annotations

from ..valueclass import valueclass


@valueclass(frozen=True)
class Void:
    name: str = ""
    size: int = 0


@valueclass(frozen=True)
class Int:
    name: str
    size: int
    signed: bool
    char: bool
    bool: bool
    bits: int
    offset: int = 0


@valueclass(frozen=True)
class Float:
    name: str
    size: int


@valueclass(frozen=True)
class Ptr:
    name: str
    type: int


@valueclass(frozen=True)
class Array:
    name: str
    type: int
    index_type: int
    nelems: int


@valueclass(frozen=True)
class Member:
    name: str
    type: int
    bit_offset: int
    bitfield_size: int = 0


@valueclass(frozen=True)
class Struct:
    name: str
    size: int
    members: tuple[Member, ...]


@valueclass(frozen=True)
class Union:
    name: str
    size: int
    members: tuple[Member, ...]


@valueclass(frozen=True)
class Enum:
    name: str
    size: int
    values: tuple[tuple[str, int], ...]
    signed: bool = False


@valueclass(frozen=True)
class Enum64:
    name: str
    size: int
    values: tuple[tuple[str, int], ...]
    signed: bool = False


@valueclass(frozen=True)
class Fwd:
    name: str
    union: bool = False


@valueclass(frozen=True)
class Typedef:
    name: str
    type: int


@valueclass(frozen=True)
class Volatile:
    name: str
    type: int


@valueclass(frozen=True)
class Const:
    name: str
    type: int


@valueclass(frozen=True)
class Restrict:
    name: str
    type: int


@valueclass(frozen=True)
class TypeTag:
    name: str
    type: int


@valueclass(frozen=True)
class Func:
    name: str
    type: int
    linkage: int = 0


@valueclass(frozen=True)
class Param:
    name: str
    type: int


@valueclass(frozen=True)
class FuncProto:
    name: str
    return_type: int
    params: tuple[Param, ...]


@valueclass(frozen=True)
class Var:
    name: str
    type: int
    linkage: int = 0


@valueclass(frozen=True)
class VarSecInfo:
    type: int
    offset: int
    size: int


@valueclass(frozen=True)
class Datasec:
    name: str
    size: int
    vars: tuple[VarSecInfo, ...]


@valueclass(frozen=True)
class DeclTag:
    name: str
    type: int
    component_idx: int


# Kinds that only qualify or rename another type.
MODIFIERS = (Typedef, Volatile, Const, Restrict, TypeTag)
