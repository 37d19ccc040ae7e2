"""Tasks: packages running on behalf of the server, each through the same runtime as
`ecli run`, with its output in a bounded log."""

from __future__ import annotations

import base64
import binascii
import threading
import time
from dataclasses import dataclass, field

from ..cli.program_flags import chosen_values, parse_quietly
from ..cli.run import Printer, attach_options, program_parser, report_losses
from ..errors import ArgumentError, EunomiaError, PackageError
from ..loaded import LoadedPackage
from ..package import Package
from .tasklog import TaskLog

POLL_SECONDS = 0.1
KEEP_STOPPED = 64       # stopped tasks kept listed (with their logs), oldest dropped


class UnknownTaskError(LookupError):
    """No task has this id."""


@dataclass
class StartRequest:
    """POST /task, as eunomia-bpf's server takes it."""

    program_data_buf: str
    program_type: str = "json"
    program_name: str | None = None
    extra_args: list[str] = field(default_factory=list)
    export_json: bool = False
    replace: int | None = None

    @classmethod
    def from_json(cls, body) -> StartRequest:
        if not isinstance(body, dict):
            raise ArgumentError("the request body must be a JSON object")
        unknown = sorted(set(body) - {"program_data_buf", "program_type", "program_name",
                                      "extra_args", "export_json", "replace",
                                      "btf_archive_path"})
        if unknown:
            raise ArgumentError(f"unknown field '{unknown[0]}'")
        data = body.get("program_data_buf")
        if not isinstance(data, str) or not data:
            raise ArgumentError("'program_data_buf' (the package, base64) is required")
        kind = body.get("program_type", "json")
        if kind not in ("json", "yaml"):
            raise ArgumentError(f"'program_type' is json or yaml, not {kind!r}")
        args = body.get("extra_args", [])
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise ArgumentError("'extra_args' must be a list of strings")
        name = body.get("program_name")
        if name is not None and not isinstance(name, str):
            raise ArgumentError("'program_name' must be a string")
        replace = body.get("replace")
        if replace is not None and (not isinstance(replace, int) or isinstance(replace, bool)):
            raise ArgumentError("'replace' must be a task id")
        export_json = body.get("export_json", False)
        if not isinstance(export_json, bool):
            raise ArgumentError("'export_json' must be true or false")
        return cls(data, kind, name, args, export_json, replace)

    def package(self) -> Package:
        """The package, decoded and fully validated (its object's BTF parsed) before
        anything touches the kernel."""
        text = self.program_data_buf.strip()
        try:
            content = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise ArgumentError("'program_data_buf' is not base64") from None
        package = Package.load(content)
        try:
            package.btf()
        except EunomiaError as exc:
            raise PackageError(f"the package's BPF object is broken: {exc}") from None
        return package


class Task:
    """One running package: opened and attached when created (so a failure fails the
    request), then read by a thread of its own until stopped."""

    def __init__(self, task_id: int, request: StartRequest, log: TaskLog):
        self.id = task_id
        package = request.package()
        self.name = request.program_name or package.meta.bpf_skel.obj_name or "program"
        parser, dests = program_parser(package)
        args = parse_quietly(parser, request.extra_args)     # --help refused there
        self.options = attach_options(args)
        self.log = log
        self.status = "starting"
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._printer = Printer(request.export_json or args.json, header=True)
        self.loaded = LoadedPackage.open(package, chosen_values(args, dests))
        try:
            self.loaded.attach(options=self.options)
            self._sources = self.loaded.event_sources()
            if self._sources:
                self.loaded.drain_in_background(32 << 20)   # bursts queue, bounded
            self._samplers = self.loaded.samplers()
        except BaseException:
            self.loaded.close()
            raise
        self.status = "running"
        attached = f"attached {len(self.loaded.links)} program(s) of '{self.name}'"
        self.log.add("info", [attached])
        self._thread = threading.Thread(target=self._run, name=f"task-{task_id}",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        next_sample = {s.name: time.monotonic() + s.spec.interval for s in self._samplers}
        try:
            while not self._stopping.is_set():
                if self._sources:
                    for source, raws in self.loaded.read_raw(POLL_SECONDS):
                        self.log.add("event", self._printer.records(source, raws,
                                                                    time.time()))
                    report_losses(self._sources, lambda text: self.log.add("error", [text]))
                else:
                    self._stopping.wait(POLL_SECONDS)
                now = time.monotonic()
                for sampler in self._samplers:
                    if now >= next_sample[sampler.name]:
                        self.log.add("event", self._printer.sample(sampler, time.time()))
                        next_sample[sampler.name] = now + sampler.spec.interval
        except EunomiaError as exc:
            self.log.add("error", [str(exc)])
            self.status = "failed"
        except Exception as exc:   # noqa: BLE001 (a task must not die silently)
            self.log.add("error", [f"internal error: {type(exc).__name__}: {exc}"])
            self.status = "failed"

    def pause(self) -> None:
        """Detaches every program; maps and the log stay."""
        with self._lock:
            if self.status == "running":
                self.loaded.detach()
                self.status = "paused"
                self.log.add("info", ["paused"])

    def resume(self) -> None:
        with self._lock:
            if self.status == "paused":
                self.loaded.attach(options=self.options)
                self.status = "running"
                self.log.add("info", ["resumed"])

    def stop(self) -> None:
        """Detaches and frees everything; the task stays listed as stopped."""
        with self._lock:
            if self.status == "stopped":
                return
            self.status = "stopping"
            self._stopping.set()
            try:
                self.loaded.detach()    # the kernel's part: the reader exits meanwhile
            finally:
                self._thread.join(timeout=10)
                self.loaded.close()
                self.status = "stopped"
            self.log.add("info", ["stopped"])

    def stop_in_background(self) -> None:
        """Stops the task in a thread of its own: detaching a tracepoint waits for the
        kernel's RCU grace periods (~0.1 s), which a hot update need not wait for."""
        threading.Thread(target=self.stop, name=f"stop-{self.id}", daemon=True).start()

    def summary(self) -> dict:
        return {"id": self.id, "name": self.name, "status": self.status,
                "log_entries": self.log.next_cursor, "log_dropped": self.log.dropped}


class TaskManager:
    """Every task of a server, with limits on how many run and how much they log."""

    def __init__(self, max_tasks: int = 32, log_entries: int = 10_000,
                 log_bytes: int = 4 << 20):
        self.max_tasks = max_tasks
        self.log_entries, self.log_bytes = log_entries, log_bytes
        self._tasks: dict[int, Task] = {}
        self._next_id = 1
        self._starting = 0
        self._lock = threading.Lock()

    def start(self, request: StartRequest) -> Task:
        """Starts a task; with `request.replace`, the old task stops (in the background)
        only once the new one is attached, so there is no gap in coverage."""
        old = self.get(request.replace) if request.replace is not None else None
        with self._lock:        # the slot is reserved before the slow load
            running = self._starting + sum(1 for t in self._tasks.values()
                                           if t.status != "stopped")
            if running >= self.max_tasks + (1 if old is not None else 0):
                raise TaskLimitError(f"{self.max_tasks} tasks are running already (the "
                                     "server's limit): stop one first")
            task_id, self._next_id = self._next_id, self._next_id + 1
            self._starting += 1
        try:
            task = Task(task_id, request, TaskLog(self.log_entries, self.log_bytes))
        finally:
            with self._lock:
                self._starting -= 1
        with self._lock:
            self._tasks[task_id] = task
            self._forget_old_stopped()
        if old is not None:
            old.stop_in_background()
        return task

    def _forget_old_stopped(self) -> None:
        """Keeps the last KEEP_STOPPED stopped tasks (and their logs) for reading."""
        stopped = [i for i, t in self._tasks.items() if t.status == "stopped"]
        for task_id in stopped[:max(0, len(stopped) - KEEP_STOPPED)]:
            del self._tasks[task_id]

    def get(self, task_id) -> Task:
        task = self._tasks.get(task_id) if isinstance(task_id, int) else None
        if task is None:
            raise UnknownTaskError(f"no task with id {task_id!r}")
        return task

    def list(self) -> list[dict]:
        return [task.summary() for task in list(self._tasks.values())]

    def shutdown(self) -> None:
        for task in list(self._tasks.values()):
            try:
                task.stop()
            except EunomiaError:
                pass    # the rest must still stop


class TaskLimitError(ArgumentError):
    """The server runs as many tasks as it may."""
