"""Kubernetes containers by the links the kubelet keeps for their logs: for every
container it runs, whatever the runtime (containerd, CRI-O, ...), the kubelet makes
/var/log/containers/POD_NAMESPACE_CONTAINER-ID.log. Its name gives the container's pod,
namespace and name with no API at all: the answer for containerd, whose own API is
gRPC only."""

from __future__ import annotations

import os
import re

from .model import Container

LOG_LINKS = "/var/log/containers"
MAX_LINKS = 65536           # directory entries read at most
# pod names and namespaces are DNS labels (no "_"); the container name may hold "-"
_LINK = re.compile(r"^(?P<pod>[^_]+)_(?P<namespace>[^_]+)_(?P<name>.+)-(?P<id>[0-9a-f]{64})"
                   r"\.log$")


def kubelet_containers(wanted: list[str], directory: str = LOG_LINKS,
                       runtime: str = "") -> list[Container]:
    """The containers of `wanted` (IDs) that the kubelet's log links name."""
    try:
        with os.scandir(directory) as entries:
            names = [entry.name for _, entry in zip(range(MAX_LINKS), entries)]
    except OSError:
        return []
    wanted_ids = set(wanted)
    found = []
    for name in names:
        match = _LINK.match(name)
        if match and match.group("id") in wanted_ids:
            found.append(Container(id=match.group("id"), runtime=runtime,
                                   name=match.group("name"), pod=match.group("pod"),
                                   namespace=match.group("namespace")))
    return found
