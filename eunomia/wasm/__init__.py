"""Wasm programs: eunomia-bpf's WASI modules, which carry their own BPF object and user
space and call the host through the `wasm_bpf` import module, run on wasmtime.
docs/wasm.md."""

from .run import (
    DEFAULT_MEMORY,
    WasmError,
    WasmOptions,
    WasmResult,
    WasmRun,
    check_module,
    is_wasm,
    run_module,
    run_wasm,
)

__all__ = ["DEFAULT_MEMORY", "WasmError", "WasmOptions", "WasmResult", "WasmRun",
           "check_module", "is_wasm", "run_module", "run_wasm"]
