"""A Wasm module as a package source gives it: eunomia-bpf's WASI programs carry their
own BPF object and user space (run by eunomia.wasm; docs/wasm.md)."""

from __future__ import annotations

from ..errors import PackageError
from ..valueclass import valueclass

WASM_MAGIC = b"\0asm"


def is_wasm(content: bytes) -> bool:
    return content[:4] == WASM_MAGIC


@valueclass(frozen=True)
class WasmModule:
    """The module's bytes and the name it came by (a path, URL or image)."""

    content: bytes
    name: str = "app.wasm"

    def __post_init__(self):
        if not is_wasm(self.content):
            raise PackageError(f"{self.name}: not a Wasm module (it does not start with "
                               "\\0asm)")

    def __repr__(self) -> str:
        return f"WasmModule({self.name!r}, {len(self.content)} bytes)"
