"""Running a WASI (preview 1) module on wasmtime with the `wasm_bpf` host functions:
`ecli run app.wasm ARGS...`, server tasks and the library's run_module().

The guest runs in a thread of its own; the caller's thread waits for it, so Ctrl-C,
SIGTERM, SIGHUP and --duration are seen at once. A stop first makes the guest's polls
return -EINTR (upstream's guests then end on their own); a guest that is still running
STOP_GRACE seconds later, in a busy loop or a callback, is interrupted by wasmtime's
epoch interruption. Every program the guest attached is detached when it ends, however
it ends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .. import defaults
from ..errors import EunomiaError
from ..package.wasm_module import is_wasm  # noqa: F401 (part of this module's API)
from ..valueclass import field, valueclass
from .host import WasmBpfHost
from .memory import GuestFault

DEFAULT_MEMORY = 256 << 20      # bytes of guest memory at most (--wasm-memory)
MAX_MEMORY = defaults.WASM_MAX_MEMORY
STOP_GRACE = 0.5                # seconds a stopped guest has to end by itself
MAX_TABLES = 4                  # tables a guest may make (C and Rust programs make one)
MAX_TABLE_ELEMENTS = 1 << 20    # elements in each: at most ~16 MiB a table


class WasmError(EunomiaError):
    """A module that cannot run: not Wasm, an import we do not offer, or a trap."""


@valueclass
class WasmOptions:
    memory_bytes: int = DEFAULT_MEMORY
    dirs: list[tuple[str, str]] = field(default_factory=list)   # --dir HOST[:GUEST]
    duration: float | None = None
    stdout: Callable[[bytes], None] | None = None   # None: this process's stdout
    stderr: Callable[[bytes], None] | None = None
    log: Callable[[str], None] = lambda text: None  # the host's own lines


@valueclass
class WasmResult:
    exit_code: int
    stopped: bool = False           # ended by a stop request, not by itself
    interrupted: bool = False       # it had to be interrupted (it did not end in time)


class WasmRun:
    """One run of a module; run() waits for its end, request_stop() ends it."""

    def __init__(self, module: bytes, args: list[str], name: str = "app.wasm",
                 options: WasmOptions | None = None):
        import wasmtime
        self.options = options or WasmOptions()
        memory = self.options.memory_bytes
        if type(memory) is not int or not 0 < memory <= MAX_MEMORY:
            raise WasmError(f"memory_bytes {memory!r}: expected a number of bytes from 1 to "
                            f"{MAX_MEMORY} (4G)")
        config = wasmtime.Config()
        config.epoch_interruption = True
        self._engine = wasmtime.Engine(config)
        try:
            self._module = wasmtime.Module(self._engine, module)
        except wasmtime.WasmtimeError as exc:
            raise WasmError(f"{name}: not a valid Wasm module: {_first_line(exc)}") from None
        self.host = WasmBpfHost(self.options.log)
        self._store = wasmtime.Store(self._engine)
        # --wasm-memory bounds the one linear memory; more memories, or tables of a
        # billion entries, would go around it
        self._store.set_limits(memory_size=self.options.memory_bytes, memories=1,
                               tables=MAX_TABLES, table_elements=MAX_TABLE_ELEMENTS)
        self._store.set_epoch_deadline(1)       # one increment, from a stop, interrupts
        wasi = wasmtime.WasiConfig()
        wasi.argv = [name, *args]
        for out, custom in (("stdout", self.options.stdout), ("stderr", self.options.stderr)):
            if custom is None:
                getattr(wasi, f"inherit_{out}")()
            else:
                setattr(wasi, f"{out}_custom", custom)
        for host_dir, guest_dir in self.options.dirs:
            try:
                wasi.preopen_dir(host_dir, guest_dir)
            except wasmtime.WasmtimeError as exc:
                raise WasmError(f"--dir {host_dir}: {_first_line(exc)}") from None
        self._store.set_wasi(wasi)
        self._linker = wasmtime.Linker(self._engine)
        self._linker.define_wasi()
        self.host.define(self._linker)
        self.name = name
        self._stop = threading.Event()
        self._done = threading.Event()
        self._outcome: WasmResult | BaseException | None = None

    def request_stop(self) -> None:
        self._stop.set()

    def run(self) -> WasmResult:
        """Runs `_start` to its end (or a stop); raises WasmError for a trap."""
        thread = threading.Thread(target=self._guest, name="wasm-guest", daemon=True)
        thread.start()
        deadline = None if self.options.duration is None else \
            time.monotonic() + self.options.duration
        try:
            while not self._done.wait(0.05):
                if self._stop.is_set() or (deadline is not None and
                                           time.monotonic() >= deadline):
                    self._end(thread)
                    break
        finally:
            self._stop.set()
            self.host.stop.set()
            thread.join(5)
            self.host.close()
            if not thread.is_alive():
                # a finished guest's memory goes now, not when its task is forgotten (a
                # server keeps 64 stopped tasks)
                self._store = self._module = self._linker = self._engine = None
        outcome = self._outcome
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def _end(self, thread: threading.Thread) -> None:
        """Asks the guest to end (its polls return -EINTR), then interrupts it."""
        self.host.stop.set()
        if self._done.wait(STOP_GRACE):
            return
        while not self._done.is_set():
            self._engine.increment_epoch()
            self._done.wait(0.05)

    def _instance_start(self):
        """The module instantiated and its `_start`. Instantiating runs the module's own
        start function, which is guest code too: it runs here, in the guest's thread,
        where a stop or --duration interrupts it."""
        import wasmtime
        try:
            instance = self._linker.instantiate(self._store, self._module)
        except wasmtime.Trap:
            raise
        except wasmtime.WasmtimeError as exc:
            raise WasmError(f"{self.name}: {_first_line(exc)} (the host offers WASI "
                            "preview 1 and wasm_bpf)") from None
        start = instance.exports(self._store).get("_start")
        if start is None:
            raise WasmError(f"{self.name}: exports no _start (build it as a WASI command)")
        return start

    def _guest(self) -> None:
        import wasmtime
        try:
            self._instance_start()(self._store)
            self._outcome = WasmResult(0, self.host.stop.is_set())
        except wasmtime.ExitTrap as exc:
            self._outcome = WasmResult(exc.code, self.host.stop.is_set())
        except wasmtime.Trap as exc:
            if self.host.stop.is_set() and exc.trap_code == wasmtime.TrapCode.INTERRUPT:
                self._outcome = WasmResult(0, True, True)
            else:
                self._outcome = WasmError(f"{self.name}: the guest trapped: "
                                          f"{_first_line(exc)}")
        except GuestFault as exc:
            self._outcome = WasmError(f"{self.name}: the guest trapped: {exc}")
        except WasmError as exc:
            self._outcome = exc
        except EunomiaError as exc:
            self._outcome = WasmError(f"{self.name}: {exc}")
        except wasmtime.WasmtimeError as exc:
            # e.g. proc_exit with a status of 126 or more, which WASI does not allow
            self._outcome = WasmError(f"{self.name}: {_first_line(exc)}")
        except Exception as exc:  # noqa: BLE001 (a guest must not take the host down)
            self._outcome = WasmError(f"{self.name}: internal error: "
                                      f"{type(exc).__name__}: {_first_line(exc)}")
        finally:
            self._done.set()


def check_module(module: bytes, name: str = "app.wasm") -> None:
    """WasmError unless `module` is a valid Wasm module whose imports the host offers
    (compiled and linked, not run)."""
    import wasmtime
    engine = wasmtime.Engine()
    try:
        compiled = wasmtime.Module(engine, module)
    except wasmtime.WasmtimeError as exc:
        raise WasmError(f"{name}: not a valid Wasm module: {_first_line(exc)}") from None
    offered = {"wasi_snapshot_preview1", "wasm_bpf", "callback-wrapper"}
    for needed in compiled.imports:
        if needed.module not in offered:
            raise WasmError(f"{name}: imports {needed.module}.{needed.name}, which the host "
                            "does not offer (WASI preview 1 and wasm_bpf)")


def run_module(module, args: list[str] | None = None, name: str | None = None,
               options: WasmOptions | None = None) -> WasmResult:
    """Runs a WASI module (its bytes, or the WasmModule Package.load gives) with the
    wasm_bpf host functions to its end (or `options.duration`); WasmError when it
    cannot run or traps. Its output goes to this process's, or to `options.stdout` /
    `options.stderr` (callables taking bytes). See docs/wasm.md."""
    content = getattr(module, "content", module)
    if not isinstance(content, (bytes, bytearray, memoryview)):
        raise WasmError(f"expected a module's bytes or a WasmModule, not "
                        f"{type(module).__name__}")
    name = name or getattr(module, "name", "app.wasm")
    return WasmRun(bytes(content), list(args or []), name, options).run()


run_wasm = run_module       # eunomia.run_wasm


def _first_line(exc: BaseException) -> str:
    """One line of wasmtime's message: its cause when it gives one (a trap's message
    starts with "error while executing at wasm backtrace:", and the cause comes last)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if "Caused by:" in lines and lines[-1] != "Caused by:":
        cause = lines[-1]           # "1: wasm trap: ..." when there are several
        number, _, rest = cause.partition(": ")
        return rest if number.isdigit() and rest else cause
    return lines[0] if lines else type(exc).__name__
