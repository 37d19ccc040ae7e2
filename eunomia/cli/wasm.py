"""`ecli run APP.wasm [ARGS...]`: a WASI module on wasmtime with the wasm_bpf host
functions; its stdout and stderr are ours, its exit code is ours. Ctrl-C, SIGTERM,
SIGHUP and --duration stop it within a second, every program it attached detached."""

from __future__ import annotations

import argparse
import signal
import sys

from .. import defaults
from ..errors import ArgumentError
from ..session.flags import parse_size
from .run import STOP_SIGNALS, warn


def add_wasm_options(parser) -> None:
    group = parser.add_argument_group("Wasm modules (APP.wasm: docs/wasm.md)")
    group.add_argument("--wasm-memory", type=_memory_size, metavar="SIZE",
                       help="the guest's memory at most, e.g. 512M (default 256M)")
    group.add_argument("--dir", action="append", default=[], metavar="HOST[:GUEST]",
                       type=_directory,
                       help="let the guest see directory HOST (as GUEST; default the same "
                            "path); repeatable. Without it the guest sees no file")


def _memory_size(text: str) -> int:
    size = parse_size(text)
    if size > defaults.WASM_MAX_MEMORY:
        raise argparse.ArgumentTypeError(f"{text}: a wasm32 guest addresses 4G at most")
    return size


def _directory(text: str) -> tuple[str, str]:
    host, _, guest = text.partition(":")
    if not host:
        raise argparse.ArgumentTypeError(f"expected HOST[:GUEST], not '{text}'")
    return host, guest or host


def check_not_wasm_options(args) -> None:
    """--dir and --wasm-memory with a package (not a module) are mistakes: say so."""
    if args.dir or args.wasm_memory is not None:
        raise ArgumentError("--dir and --wasm-memory are for Wasm modules; this is a "
                            "package")


def run_wasm(module, guest_args: list[str], args) -> int:
    from ..wasm import DEFAULT_MEMORY, WasmOptions, WasmRun
    options = WasmOptions(memory_bytes=args.wasm_memory or DEFAULT_MEMORY,
                          dirs=list(args.dir), duration=args.duration,
                          log=lambda text: warn(f"wasm: {text}"))
    sys.stdout.flush()
    run = WasmRun(module.content, guest_args, module.name, options)
    previous = {sig: signal.signal(sig, lambda *_: run.request_stop())
                for sig in STOP_SIGNALS}
    try:
        result = run.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if result.interrupted:
        warn(f"{module.name} did not end within a moment of the stop: interrupted")
    return result.exit_code
