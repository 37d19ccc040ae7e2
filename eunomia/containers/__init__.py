"""The node's containers: which container, pod and namespace a mount namespace or a
cgroup belongs to (ContainerMap), and which ones a run selects (ContainerSelection).
See docs/containers.md."""

from ..lazy import lazy_exports
from .model import NO_CONTAINER, Container, ContainerSelection

# the map and the runtimes' clients (http.client, ssl: 20 ms) load on first use: a run
# whose records name no container never pays for them
_LAZY = {"ContainerMap": "live", "shared_map": "live", "DEFAULT_SOCKETS": "runtimes",
         "RUNTIMES": "runtimes"}


__getattr__ = lazy_exports(__name__, _LAZY)


__all__ = ["DEFAULT_SOCKETS", "NO_CONTAINER", "RUNTIMES", "Container", "ContainerMap",
           "ContainerSelection", "shared_map"]
