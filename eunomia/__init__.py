"""eunomia: compile eBPF programs once into portable packages, run them anywhere with BTF.

    import eunomia
    pkg = eunomia.compile("tool.bpf.c", "tool.h")   # -> Package (a spec, no kernel calls)
    pkg = eunomia.Package.load("package.json")       # a path, URL or bytes; also .yaml
    with pkg.open(targ_pid=123) as prog:             # loaded, globals set from keywords
        prog.attach()                                # every program by its SEC name
        for ev in prog.events(timeout=1.0):          # decoded records; ev["pid"], ev.pid
            print(ev.pid, ev.comm)

Names are imported on first use, so `import eunomia` stays cheap for the command line.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "compile": "eunomia.compiler",
    "Package": "eunomia.package",
    "LoadedPackage": "eunomia.loaded",
    "OpenPackage": "eunomia.loaded",
    "AttachOptions": "eunomia.attach_plan",
    "Record": "eunomia.decode",
    "open_pinned_map": "eunomia.maps",
    "KernelSymbols": "eunomia.symbols",
    "UserSymbols": "eunomia.symbols",
    "LpmKey": "eunomia.maps",
    "BTF": "eunomia.btf",
    "Histogram": "eunomia.output.histogram",
    "log2_histogram": "eunomia.output.histogram",
    "linear_histogram": "eunomia.output.histogram",
    "map_histograms": "eunomia.output.histogram",
    "render_sections": "eunomia.output.histogram",
    "EunomiaError": "eunomia.errors",
    "PackageError": "eunomia.errors",
    "SourceError": "eunomia.errors",
    "CompileError": "eunomia.errors",
    "BTFError": "eunomia.errors",
    "DecodeError": "eunomia.errors",
    "ArgumentError": "eunomia.errors",
    "NotSupportedError": "eunomia.errors",
    "LibbpfError": "eunomia.errors",
    "LoadError": "eunomia.errors",
    "VerifierError": "eunomia.errors",
    "AttachError": "eunomia.errors",
    "MapError": "eunomia.errors",
    "PermissionDeniedError": "eunomia.errors",
    "WasmModule": "eunomia.package.wasm_module",
    "run_wasm": "eunomia.wasm",
    "WasmOptions": "eunomia.wasm",
    "WasmError": "eunomia.wasm",
}

# submodules reachable as attributes: eunomia.features.kprobes(), eunomia.maps.HashMap
_SUBMODULES = ("features", "maps", "session", "symbols")

__all__ = ["__version__", *(str(name) for name in _EXPORTS), *_SUBMODULES]  # noqa: PLE0604


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"eunomia.{name}")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'eunomia' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
