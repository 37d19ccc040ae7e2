"""Names a package re-exports from its submodules, each imported on first use (PEP 562):
a command that never touches a name never pays for its module's imports."""

from __future__ import annotations

import importlib


def lazy_exports(package: str, exports: dict[str, str]):
    """The module `__getattr__` of `package`, for `exports`: {name: submodule}."""
    def __getattr__(name: str):
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f".{module}", package), name)
    return __getattr__
