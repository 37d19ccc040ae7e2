"""Live kernel objects: BpfObject, BpfProgram, BpfMap, Link and the event readers.

The names load with their module on first use: opening an object needs neither the
event readers nor the links (`ecli run` imports those while the kernel verifies)."""

_LAZY = {"BpfMap": "maps", "BpfObject": "object", "BpfProgram": "program", "Link": "link",
         "PerfBufferReader": "perfbuf", "RingBufferReader": "ringbuf"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["BpfMap", "BpfObject", "BpfProgram", "Link", "PerfBufferReader",
           "RingBufferReader"]
