"""A Wasm module running as a server task (`ecli client start app.wasm ARGS`): its
stdout lines are the task's events, its stderr lines and the host's own words its errors,
in the same bounded log as a package's; stop() ends it as `ecli run` does (its polls
return -EINTR, then an interrupt), every program it attached detached."""

from __future__ import annotations

import threading

from ..errors import ArgumentError
from ..session import SessionState
from ..wasm import WasmError, WasmRun
from .models import TaskSummary
from .tasklog import TaskLog
from .tasks import NoKernelViews

MAX_LINE = 64 << 10         # bytes of one unfinished output line kept


class _Lines:
    """Bytes a guest writes -> whole lines into the log (a partial line waits)."""

    def __init__(self, log: TaskLog, kind: str):
        self.log, self.kind = log, kind
        self.count = 0
        self._partial = b""

    def __call__(self, data: bytes) -> None:
        text = self._partial + bytes(data)
        *lines, self._partial = text.split(b"\n")
        if len(self._partial) > MAX_LINE:
            lines.append(self._partial)
            self._partial = b""
        if lines:
            self.log.add(self.kind, [line.decode("utf-8", "replace") for line in lines])
            self.count += len(lines)

    def flush(self) -> None:
        if self._partial:
            self(b"\n")


class WasmTask(NoKernelViews):
    """A module started when created (a module that cannot run fails the request)."""

    def __init__(self, task_id: int, module, args: list[str], log: TaskLog,
                 name: str | None = None):
        from ..wasm import WasmOptions
        self.id = task_id
        self.name = name or module.name.rsplit("/", 1)[-1]
        self.log = log
        self._stdout, self._stderr = _Lines(log, "event"), _Lines(log, "error")
        options = WasmOptions(stdout=self._stdout, stderr=self._stderr,
                              log=lambda text: log.add("error", [f"wasm: {text}"]))
        self._run = WasmRun(module.content, list(args), self.name, options)
        self._state = SessionState.RUNNING
        self.error: str | None = None
        self._thread = threading.Thread(target=self._main, name=f"wasm-{task_id}",
                                        daemon=True)
        self._thread.start()
        log.add("info", [f"started the Wasm module '{self.name}'"])

    def _main(self) -> None:
        try:
            result = self._run.run()
            self._finish()
            self.log.add("info", [f"exited with {result.exit_code}" if not result.stopped
                                  else "stopped"])
            self._state = SessionState.STOPPED
        except WasmError as exc:
            self._finish()
            self.error = str(exc)
            self.log.add("error", [self.error])
            self._state = SessionState.FAILED

    def _finish(self) -> None:
        self._stdout.flush()
        self._stderr.flush()

    @property
    def status(self) -> SessionState:
        return self._state

    @property
    def finished(self) -> bool:
        return self._state in (SessionState.STOPPED, SessionState.FAILED)

    def pause(self) -> None:
        raise ArgumentError(f"task {self.id} is a Wasm module: it cannot be paused (stop "
                            "it instead)")

    resume = pause

    def stop(self) -> None:
        self._run.request_stop()
        self._thread.join(10)

    def stop_in_background(self) -> None:
        self._run.request_stop()

    def summary(self) -> TaskSummary:
        return TaskSummary(id=self.id, name=self.name, status=self._state,
                           log_entries=self.log.next_cursor, log_dropped=self.log.dropped,
                           events=self._stdout.count, lost=0, dropped=0)
