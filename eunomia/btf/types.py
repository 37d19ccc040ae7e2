"""BTF type kinds as small frozen records (see the kernel's Documentation/bpf/btf.rst).

Every type has a `name` ("" when anonymous). Referring types hold a `type` id; member
offsets are in bits.
"""

from __future__ import annotations


def _frozen(cls):
    """What @dataclass(frozen=True) gives these classes (init by position or keyword,
    defaults, eq, hash, repr, no assignment), without generating code per class: that
    took a tenth of `ecli run`'s start-up."""
    names = tuple(cls.__dict__.get("__annotations__", {}))  # noqa: RUF063 (3.9: no get_annotations)
    defaults = {name: cls.__dict__[name] for name in names if name in cls.__dict__}

    def __init__(self, *args, **kwargs):
        if len(args) > len(names):
            raise TypeError(f"{cls.__name__} takes at most {len(names)} values")
        values = dict(zip(names, args))
        for key, value in kwargs.items():
            if key not in names or key in values:
                raise TypeError(f"{cls.__name__}: bad or repeated argument {key!r}")
            values[key] = value
        for name in names:
            if name not in values:
                if name not in defaults:
                    raise TypeError(f"{cls.__name__}: missing {name!r}")
                values[name] = defaults[name]
        self.__dict__.update(values)

    def __setattr__(self, name, value):
        raise AttributeError(f"cannot assign to field {name!r} of a BTF type")

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return self.__dict__ == other.__dict__

    def __hash__(self):
        return hash((cls.__name__, *(self.__dict__[name] for name in names)))

    def __repr__(self):
        fields = ", ".join(f"{name}={self.__dict__[name]!r}" for name in names)
        return f"{cls.__name__}({fields})"

    for function in (__init__, __setattr__, __eq__, __hash__, __repr__):
        function.__qualname__ = f"{cls.__name__}.{function.__name__}"
        setattr(cls, function.__name__, function)
    cls.__delattr__ = __setattr__
    cls.__match_args__ = names
    return cls


@_frozen
class Void:
    name: str = ""
    size: int = 0


@_frozen
class Int:
    name: str
    size: int
    signed: bool
    char: bool
    bool: bool
    bits: int
    offset: int = 0


@_frozen
class Float:
    name: str
    size: int


@_frozen
class Ptr:
    name: str
    type: int


@_frozen
class Array:
    name: str
    type: int
    index_type: int
    nelems: int


@_frozen
class Member:
    name: str
    type: int
    bit_offset: int
    bitfield_size: int = 0


@_frozen
class Struct:
    name: str
    size: int
    members: tuple[Member, ...]


@_frozen
class Union:
    name: str
    size: int
    members: tuple[Member, ...]


@_frozen
class Enum:
    name: str
    size: int
    values: tuple[tuple[str, int], ...]
    signed: bool = False


@_frozen
class Enum64:
    name: str
    size: int
    values: tuple[tuple[str, int], ...]
    signed: bool = False


@_frozen
class Fwd:
    name: str
    union: bool = False


@_frozen
class Typedef:
    name: str
    type: int


@_frozen
class Volatile:
    name: str
    type: int


@_frozen
class Const:
    name: str
    type: int


@_frozen
class Restrict:
    name: str
    type: int


@_frozen
class TypeTag:
    name: str
    type: int


@_frozen
class Func:
    name: str
    type: int
    linkage: int = 0


@_frozen
class Param:
    name: str
    type: int


@_frozen
class FuncProto:
    name: str
    return_type: int
    params: tuple[Param, ...]


@_frozen
class Var:
    name: str
    type: int
    linkage: int = 0


@_frozen
class VarSecInfo:
    type: int
    offset: int
    size: int


@_frozen
class Datasec:
    name: str
    size: int
    vars: tuple[VarSecInfo, ...]


@_frozen
class DeclTag:
    name: str
    type: int
    component_idx: int


# Kinds that only qualify or rename another type.
MODIFIERS = (Typedef, Volatile, Const, Restrict, TypeTag)
