"""The maps an object defines in its `.maps` section (libbpf's BTF-defined maps), with the
map type, key and value each definition names: known from the object alone, before
libbpf opens it."""

from __future__ import annotations

from ..valueclass import valueclass
from .types import Array, Datasec, Ptr, Var


@valueclass(frozen=True)
class MapDefinition:
    """A map declared in .maps: its name, and what its BTF definition gives."""

    name: str
    map_type: int | None    # BPF_MAP_TYPE_*; None when the definition names none
    key: int | None         # type id of __type(key, T), when given as a type
    value: int | None       # type id of __type(value, T)


def defined_maps(btf) -> list[MapDefinition]:
    """Every map of the `.maps` section, in BTF order."""
    found = []
    for t in btf.types:
        if isinstance(t, Datasec) and t.name == ".maps":
            for info in t.vars:
                var = btf[info.type]
                if isinstance(var, Var):
                    found.append(_definition(btf, var))
    return found


def _definition(btf, var) -> MapDefinition:
    _, body = btf.resolve(var.type)
    members = {m.name: m.type for m in getattr(body, "members", ())}
    # __uint(type, N) is `int (*type)[N]`; __type(key, T) is `T *key`
    array = _pointee(btf, members.get("type"))
    array_type = btf.resolve(array)[1] if array is not None else None
    return MapDefinition(var.name,
                         array_type.nelems if isinstance(array_type, Array) else None,
                         _pointee(btf, members.get("key")),
                         _pointee(btf, members.get("value")))


def _pointee(btf, type_id: int | None) -> int | None:
    if type_id is None:
        return None
    pointer = btf[type_id]
    return pointer.type if isinstance(pointer, Ptr) else None
