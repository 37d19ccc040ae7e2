"""The node's containers: which container, pod and namespace a mount namespace or a
cgroup belongs to (ContainerMap), and which ones a run selects (ContainerSelection).
See docs/containers.md."""

from .live import ContainerMap, shared_map
from .model import NO_CONTAINER, Container, ContainerSelection
from .runtimes import DEFAULT_SOCKETS, RUNTIMES

__all__ = ["DEFAULT_SOCKETS", "NO_CONTAINER", "RUNTIMES", "Container", "ContainerMap",
           "ContainerSelection", "shared_map"]
