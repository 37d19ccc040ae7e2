"""Live kernel objects: BpfObject, BpfProgram, BpfMap, Link and the event readers.

The names load with their module on first use: opening an object needs neither the
event readers nor the links (`ecli run` imports those while the kernel verifies)."""

from ..lazy import lazy_exports

_LAZY = {"BpfMap": "maps", "BpfObject": "object", "BpfProgram": "program", "Link": "link",
         "PerfBufferReader": "perfbuf", "RingBufferReader": "ringbuf"}


__getattr__ = lazy_exports(__name__, _LAZY)


__all__ = ["BpfMap", "BpfObject", "BpfProgram", "Link", "PerfBufferReader",
           "RingBufferReader"]
