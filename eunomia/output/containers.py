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


def key_fields(codec, formats: dict[str, str]) -> dict[str, str]:
    """{"mntns": field, "cgroup": field}: the first field of `codec` of each format that
    names a container ({field: format name}); empty when none does."""
    keys: dict[str, str] = {}
    for name, _, _ in getattr(codec, "fields", ()):
        kind = formats.get(name)
        if kind in KEY_FORMATS:
            keys.setdefault(kind, name)
    return keys


class EnrichedCodec:
    """`codec` with the container fields after its own (those it has already are left
    out): the container from the mount namespace (else the cgroup), the unit from the
    cgroup. `containers` is called for the ContainerMap on first use, so a record type
    that is never printed costs no /proc scan."""

    def __init__(self, codec, keys: dict[str, str], containers: Callable):
        self._codec = codec
        self._keys = keys
        self._containers = containers
        own = {name for name, _, _ in codec.fields}
        self.extra = [name for name in (*COLUMNS, *(("unit",) if "cgroup" in keys else ()))
                      if name not in own]
        self.fields = [*codec.fields, *((name, _COLUMN_TYPE, CharArrayCodec(_COLUMN_TYPE, 16))
                                        for name in self.extra)]

    def __getattr__(self, name: str):
        return getattr(self._codec, name)       # size, c_type, encode, ...

    def flat_layout(self):
        return None             # the per-record path: the extra fields are looked up

    def decode(self, buf, offset: int = 0):
        return self._codec.decode(buf, offset)

    def _key(self, values: dict, kind: str) -> int | None:
        try:
            return int(values[self._keys[kind]])
        except (KeyError, TypeError, ValueError):
            return None

    def owner(self, values: dict) -> tuple[Container | None, str]:
        """The container (None for the host) and the unit of a record's JSON values."""
        containers = self._containers()
        container, unit = None, ""
        cgroup = self._key(values, "cgroup")
        if cgroup is not None:
            container, unit = containers.by_cgroup(cgroup)
        mntns = self._key(values, "mntns")
        if mntns is not None:
            container = containers.by_mntns(mntns)
        return container, unit

    def to_json(self, record) -> dict:
        return self.values_and_owner(record)[0]

    def values_and_owner(self, record) -> tuple[dict, Container | None]:
        """to_json()'s values and the record's container, from one lookup."""
        values = self._codec.to_json(record)
        container, unit = self.owner(values)
        shown = container.fields() if container is not None else NO_CONTAINER
        for name in self.extra:
            values[name] = unit if name == "unit" else shown[name]
        return values, container


def enriched(codec, formats: dict[str, str], containers: Callable):
    """`codec` as an EnrichedCodec when a field of it names a container ({field: format
    name}), else `codec` itself."""
    keys = key_fields(codec, formats)
    return EnrichedCodec(codec, keys, containers) if keys else codec


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

