"""Container fields of records: a record with a mount-namespace or cgroup field (typed
eunomia_mntns_t / eunomia_cgroup_t, or given with --format FIELD=mntns) gets `container`,
`pod` and `namespace` (and `unit`, from a cgroup) as if they were fields of its own: in
tables, JSON, YAML and CSV, in --fields and in --filter. Host processes get "".

The codec of such a record is wrapped (EnrichedCodec), so every formatter shows the new
fields the same way; records without such a field are left as they are.
"""

from __future__ import annotations

from collections.abc import Callable

from ..containers import NO_CONTAINER, Container, ContainerSelection
from ..decode.codecs import CharArrayCodec
from ..errors import ArgumentError

KEY_FORMATS = ("mntns", "cgroup")       # the formats whose values name a container
COLUMNS = ("container", "pod", "namespace")
_COLUMN_TYPE = "char[16]"               # how wide the table makes them


def key_field(codec, formats: dict[str, str]) -> tuple[str, str] | None:
    """(field, "mntns" or "cgroup"): the first field of `codec` whose format ({field:
    format name}) names a container; None when none does."""
    for name, _, _ in getattr(codec, "fields", ()):
        if formats.get(name) in KEY_FORMATS:
            return name, formats[name]
    return None


class EnrichedCodec:
    """`codec` with the container fields after its own (those it has already are left
    out). `containers` is called for the ContainerMap on first use, so a record type
    that is never printed costs no /proc scan."""

    def __init__(self, codec, key: str, kind: str, containers: Callable):
        self._codec = codec
        self._key = key
        self._kind = kind
        self._containers = containers
        own = {name for name, _, _ in codec.fields}
        self.extra = [name for name in (*COLUMNS, *(("unit",) if kind == "cgroup" else ()))
                      if name not in own]
        self.fields = [*codec.fields, *((name, _COLUMN_TYPE, CharArrayCodec(_COLUMN_TYPE, 16))
                                        for name in self.extra)]

    def __getattr__(self, name: str):
        return getattr(self._codec, name)       # size, c_type, encode, ...

    def flat_layout(self):
        return None             # the per-record path: the extra fields are looked up

    def decode(self, buf, offset: int = 0):
        return self._codec.decode(buf, offset)

    def owner(self, values: dict) -> tuple[Container | None, str]:
        """The container (None for the host) and the unit of a record's JSON values."""
        try:
            key = int(values[self._key])
        except (KeyError, TypeError, ValueError):
            return None, ""
        containers = self._containers()
        if self._kind == "mntns":
            return containers.by_mntns(key), ""
        return containers.by_cgroup(key)

    def to_json(self, record) -> dict:
        values = self._codec.to_json(record)
        container, unit = self.owner(values)
        shown = container.fields() if container is not None else NO_CONTAINER
        for name in self.extra:
            values[name] = unit if name == "unit" else shown[name]
        return values


def check_selection(selection: ContainerSelection, codecs, kernel_filter: bool) -> None:
    """ArgumentError when `selection` asks for containers but neither a record has a
    container field nor the package filters in the kernel."""
    if selection and not kernel_filter and \
            not any(isinstance(codec, EnrichedCodec) for codec in codecs):
        raise ArgumentError(
            f"{selection.describe()}: no record of this package says which container it "
            "came from; give it a field typed eunomia_mntns_t (or eunomia_cgroup_t), say "
            "--format FIELD=mntns for one it has, or include <eunomia/containers.bpf.h> to "
            "filter in the kernel")
