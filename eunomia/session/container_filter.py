"""The kernel side of --container / --k8s-*: a program that includes
<eunomia/containers.bpf.h> drops the events of mount namespaces its
`eunomia_mntns_filter` map says to drop; this writes the map's verdicts and keeps them
current as containers come and go."""

from __future__ import annotations

import time

from ..containers.model import ContainerSelection
from ..output.settings import CONTAINER_FILTER_MAP

REFRESH_SECONDS = 1.0       # how often new and gone containers reach the map
_ON = 0                     # the key that says a selection is on (no namespace has inum 0)


class ContainerFilter:
    """Keeps `typed_map` equal to {0: 1} plus a verdict (1 keep, 0 drop) for every mount
    namespace the container map knows; a namespace it does not know yet passes the
    kernel and is filtered in user space."""

    def __init__(self, typed_map, selection: ContainerSelection, containers):
        self._map = typed_map
        self._selection = selection
        self._containers = containers
        self._written: dict[int, int] = {}
        self._next = 0.0
        self._limit = max(typed_map.max_entries - 1, 0)

    def sync(self, rescan: bool = False) -> None:
        """Brings the map up to date (a full /proc scan when `rescan`, else only the
        processes started since the last look)."""
        if rescan:
            self._containers.rescan()
        else:
            self._containers.refresh()
        verdicts = self._containers.verdicts(self._selection)
        wanted = {mntns: int(keep) for mntns, keep in
                  sorted(verdicts.items(), key=lambda item: -item[1])[:self._limit]}
        for gone in self._written.keys() - wanted.keys():
            try:
                del self._map[gone]
            except KeyError:
                pass
        for mntns, keep in wanted.items():
            if self._written.get(mntns) != keep:
                self._map[mntns] = keep
        if _ON not in self._written:
            self._map[_ON] = 1          # last: the verdicts are in place when it bites
        self._written = {**wanted, _ON: 1}
        self._next = time.monotonic() + REFRESH_SECONDS

    def tick(self) -> None:
        """sync() when REFRESH_SECONDS have passed since the last."""
        if time.monotonic() >= self._next:
            self.sync()


def container_filter(loaded, selection: ContainerSelection, containers):
    """A ContainerFilter when `selection` is on and the package has the filter map."""
    typed = loaded.maps.get(CONTAINER_FILTER_MAP)
    if not selection or typed is None:
        return None
    return ContainerFilter(typed, selection, containers)
