"""Tasks: packages running on behalf of the server, each a Session of the run core (as
`ecli run` is), with its output in a bounded log."""

from __future__ import annotations

import base64
import binascii
import threading

from ..defaults import LOG_BYTES, LOG_ENTRIES
from ..errors import ArgumentError, EunomiaError, PackageError, SignatureError, SourceError
from ..net import public_address, public_host
from ..oci.policy import NO_POLICY, CodePolicy
from ..output.lines import LinePrinter
from ..package import Package
from ..package.wasm_module import WasmModule, is_wasm
from ..runtime.untrusted import check_untrusted
from ..session import Session, SessionState, Sink, parse_run_args
from ..valueclass import field, valueclass
from .models import ProgramInfo, TaskDetail, TaskSummary
from .tasklog import TaskLog
from .views import event_fields, map_names, maps_view, sample_view

KEEP_STOPPED = 64       # stopped tasks kept listed (with their logs), oldest dropped


class UnknownTaskError(EunomiaError, LookupError):
    """No task has this id."""


@valueclass
class StartRequest:
    """A task to start (POST /task, whose body server.http.StartBody validates): the
    package inline (`program_data_buf`, base64) or where to fetch it (`program_ref`: an
    http(s) URL or an image reference, never a path on the server)."""

    program_data_buf: str | None = None
    program_type: str = "json"
    program_name: str | None = None
    extra_args: list[str] = field(default_factory=list)
    export_json: bool = False
    replace: int | None = None
    program_ref: str | None = None
    program_signature: str | None = None    # of the package's bytes (ecli sign FILE)
    image_proof: dict | None = None         # the image it came from (fleet entries)

    def package(self, ref_hosts: frozenset = frozenset(),
                policy: CodePolicy = NO_POLICY) -> Package | WasmModule:
        """The package, decoded, allowed by `policy` and fully validated (its object's
        BTF parsed) before anything touches the kernel, or a Wasm module (checked by
        wasmtime when it is compiled). `program_ref` may name a loopback, link-local or
        private host only when it is in `ref_hosts`."""
        if (self.program_data_buf is None) == (self.program_ref is None):
            raise ArgumentError("give one of 'program_data_buf' (the package, base64) or "
                                "'program_ref' (an http(s) URL or an image reference)")
        if self.program_ref is not None:
            content = _fetch(self.program_ref, ref_hosts, policy, self.program_signature)
        else:
            text = self.program_data_buf.strip()
            try:
                content = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
            except (binascii.Error, ValueError):
                raise ArgumentError("'program_data_buf' is not base64") from None
            policy.check_inline(content, self.program_signature, "program_data_buf",
                                self.image_proof)
        if is_wasm(content) or self.program_type == "wasm":
            # compiled in a child first: a module can be made to take minutes and
            # gigabytes to compile
            from ..wasm import check_module
            check_untrusted(content, check=check_module)
            return WasmModule(content, self.program_name or "app.wasm")
        # someone else's package: read and opened in libbpf in a child process first, so
        # that whatever it does there costs this request only
        check_untrusted(content)
        package = Package.load(content)
        try:
            package.btf()
        except EunomiaError as exc:
            raise PackageError(f"the package's BPF object is broken: {exc}") from None
        return package


def _fetch(reference: str, ref_hosts: frozenset, policy: CodePolicy,
           signature: str | None = None) -> bytes:
    """A package from a URL or a registry; a client never names a file of the server,
    nor (unless allowed) a host of its own networks: loopback, link-local (cloud metadata
    at 169.254.169.254) or private. Failures say only "could not fetch", so the answers
    cannot map which ports and hosts the server reaches."""
    from urllib.parse import urlsplit

    from ..oci import RegistryOptions, looks_like_reference, parse_reference
    from ..package.source import fetch_url, is_url, read_image

    def peer_allowed(address: str) -> bool:     # every connection, redirects included
        return public_address(address) or address in ref_hosts or \
            host.lower() in ref_hosts
    if is_url(reference):
        try:
            host = urlsplit(reference).hostname or ""
        except ValueError as exc:
            raise ArgumentError(f"'program_ref' {reference[:200]!r}: {exc}") from None

        def fetch(url: str) -> bytes:
            content = fetch_url(url, peer_allowed=peer_allowed)
            # a URL's bytes are checked as a package sent inline
            policy.check_inline(content, signature, "program_ref")
            return content
    elif looks_like_reference(reference):
        registry = parse_reference(reference).registry
        host = registry[1:registry.find("]")] if registry.startswith("[") else \
            registry.rsplit(":", 1)[0]

        def fetch(ref: str) -> bytes:       # straight to the registry: never a local path
            options = RegistryOptions(peer_allowed=peer_allowed)
            return policy.fetch_image(ref, options) if policy.active else \
                read_image(ref, options)[0]
    else:
        raise ArgumentError(f"'program_ref' {reference!r}: expected an http(s) URL or an "
                            "image reference HOST[:PORT]/NAME[:TAG]")
    if host.lower() not in ref_hosts and not public_host(host):
        raise ArgumentError(f"'program_ref': {host} is a loopback, link-local or private "
                            "address, which the server fetches from only when started with "
                            f"--allow-ref-host {host}")
    try:
        # a redirect, a token realm or a name whose answer changed that reaches a private
        # address is refused on the connection (net.check_peer): "could not fetch" too
        return fetch(reference)
    except SignatureError:
        raise               # the policy's answer: the image was fetched
    except SourceError:
        raise SourceError(f"'program_ref': could not fetch {reference}") from None


class TaskLogSink(Sink):
    """A task's output: records and samples as lines of its log, warnings as errors."""

    def __init__(self, log: TaskLog, printer: LinePrinter):
        self.log = log
        self.printer = printer
        self.samples: dict[str, dict] = {}      # the latest reading of each sampled map

    def records(self, source, raws, now: float) -> None:
        self.log.add("event", self.printer.records(source, raws, now))

    def sample(self, sampler, entries, now: float) -> None:
        self.log.add("event", self.printer.sample(sampler, entries, now))
        self.samples[sampler.name] = sample_view(sampler, entries, now)

    def trace(self, text: str) -> None:
        self.log.add("event", text.split("\n"))

    def warning(self, text: str) -> None:
        self.log.add("error", [text])


class Task:
    """One running package: opened and attached when created (so a failure fails the
    request), then run by its session's thread until stopped. Stopping detaches first
    and writes every record already sent to the log."""

    def __init__(self, task_id: int, request: StartRequest, log: TaskLog,
                 ref_hosts: frozenset = frozenset(), policy: CodePolicy = NO_POLICY,
                 package: Package | None = None):
        self.id = task_id
        package = package or request.package(ref_hosts, policy)
        settings = parse_run_args(package, request.extra_args, service=True, remote=True)
        self.log = log
        self._lock = threading.Lock()
        if request.export_json:
            settings.output = settings.output.replace(output="json")
        # bad --fields, --filter or --format: refused here, before anything is loaded
        sink = TaskLogSink(log, settings.printer(package))
        self.sink = sink
        self.session = Session(package, settings, sink, name=request.program_name)
        self.name = self.session.name
        self.session.start()
        sink.printer.stack_lookup = self.session.stack_lookup
        attached = f"attached {self.session.attached} program(s) of '{self.name}'"
        self.log.add("info", [attached])
        self.session.run_in_thread()

    @property
    def status(self) -> SessionState:
        return self.session.state

    @property
    def error(self) -> str | None:
        """Why the task failed while running (None while it has not)."""
        return self.session.error

    @property
    def finished(self) -> bool:
        return self.status in (SessionState.STOPPED, SessionState.FAILED)

    def pause(self) -> None:
        """Detaches every program; maps and the log stay."""
        with self._lock:
            if self.session.pause():
                self.log.add("info", ["paused"])

    def resume(self) -> None:
        with self._lock:
            if self.session.resume():
                self.log.add("info", ["resumed"])

    def stop(self) -> None:
        """Detaches, writes every record left to the log, frees everything; the task
        stays listed as stopped."""
        with self._lock:
            if self.status in (SessionState.STOPPED, SessionState.FAILED) and \
                    self.session.report is not None:
                return
            report = self.session.stop()
            if report is not None or self.status is SessionState.STOPPED:
                self.log.add("info", ["stopped"])

    def stop_in_background(self) -> None:
        """Stops the task in a thread of its own: detaching a tracepoint waits for the
        kernel's RCU grace periods (~0.1 s), which a hot update need not wait for."""
        threading.Thread(target=self.stop, name=f"stop-{self.id}", daemon=True).start()

    def details(self) -> TaskDetail:
        """The summary, plus what the dashboard lays out: programs, the fields of each
        event map, the sampled maps and the maps shown as tables."""
        with self._lock:
            maps = [] if self.finished else map_names(self.session.loaded.maps)
        skel = self.session.package.meta.bpf_skel
        return TaskDetail(**dict(self.summary()),
                          programs=[ProgramInfo(name=p.name, section=p.attach or "")
                                    for p in skel.progs or []],
                          event_fields=event_fields(self.session.sources),
                          sampled=[s.name for s in self.session.samplers], maps=maps)

    def samples(self) -> list[dict]:
        return list(self.sink.samples.values())

    def maps(self) -> list[dict]:
        """Each shown map's entries now (none once the task has stopped)."""
        with self._lock:
            if self.finished:
                return []
            return maps_view(self.session.loaded.maps)

    def summary(self) -> TaskSummary:
        sources = self.session.sources
        return TaskSummary(id=self.id, name=self.name, status=self.status,
                           log_entries=self.log.next_cursor, log_dropped=self.log.dropped,
                           events=sum(self.session.delivered.values()),
                           lost=sum(s.lost for s in sources),
                           dropped=sum(s.dropped for s in sources))


def make_task(task_id: int, request: StartRequest, log: TaskLog,
              ref_hosts: frozenset = frozenset(), policy: CodePolicy = NO_POLICY):
    """A Task for a package, a WasmTask for a Wasm module (its extra_args are its argv)."""
    package = request.package(ref_hosts, policy)
    if isinstance(package, WasmModule):
        from .wasm_task import WasmTask
        return WasmTask(task_id, package, request.extra_args, log, request.program_name)
    return Task(task_id, request, log, ref_hosts, policy, package=package)


class NoKernelViews:
    """The views of a task that holds no maps of its own to show (a task that did not
    restore; a Wasm module, whose maps are its guest's business)."""

    def details(self) -> TaskDetail:
        return TaskDetail(**dict(self.summary()), programs=[], event_fields={},
                          sampled=[], maps=[])

    def samples(self) -> list[dict]:
        return []

    def maps(self) -> list[dict]:
        return []


class UnrestoredTask(NoKernelViews):
    """A saved task that could not start again: listed as failed, with the reason in
    its log, until a client stops it (which forgets it)."""

    finished = True
    status = SessionState.FAILED

    def __init__(self, task_id: int, request: StartRequest | None, problem: str):
        self.id = task_id
        self.error = f"not restored: {problem}"
        self.name = (request.program_name if request is not None else None) or "unknown"
        self.log = TaskLog(10, 1 << 16)
        self.log.add("error", [self.error])

    def pause(self) -> None:
        raise ArgumentError(f"task {self.id} did not restore: nothing to pause")

    resume = pause

    def stop(self) -> None:
        pass

    stop_in_background = stop

    def summary(self) -> TaskSummary:
        return TaskSummary(id=self.id, name=self.name, status=self.status,
                           log_entries=self.log.next_cursor, log_dropped=0, events=0,
                           lost=0, dropped=0)


class TaskManager:
    """Every task of a server, with limits on how many run and how much they log."""

    def __init__(self, max_tasks: int = 32, log_entries: int = LOG_ENTRIES,
                 log_bytes: int = LOG_BYTES, ref_hosts=(), policy: CodePolicy = NO_POLICY,
                 state=None):
        self.max_tasks = max_tasks
        self.policy = policy
        self.state = state          # a taskstate.TaskState (--state-dir), or None
        self.ref_hosts = frozenset(host.lower() for host in ref_hosts)
        self.log_entries, self.log_bytes = log_entries, log_bytes
        self._tasks: dict[int, Task] = {}
        self._next_id = 1
        self._starting = 0
        self._lock = threading.Lock()

    def start(self, request: StartRequest, persist: bool = True,
              task_id: int | None = None) -> Task:
        """Starts a task; with `request.replace`, the old task stops (in the background)
        only once the new one is attached, so there is no gap in coverage. With a state
        directory, a task started with `persist` is kept there (fleet tasks are not:
        etcd keeps them)."""
        old = self.get(request.replace) if request.replace is not None else None
        with self._lock:        # the slot is reserved before the slow load
            running = self._starting + sum(1 for t in self._tasks.values()
                                           if not t.finished)
            if running >= self.max_tasks + (1 if old is not None else 0):
                raise TaskLimitError(f"{self.max_tasks} tasks are running already (the "
                                     "server's limit): stop one first")
            if task_id is None:
                task_id = self._next_id
            self._next_id = max(self._next_id, task_id + 1)
            self._starting += 1
        try:
            task = make_task(task_id, request, TaskLog(self.log_entries, self.log_bytes),
                             self.ref_hosts, self.policy)
        finally:
            with self._lock:
                self._starting -= 1
        with self._lock:
            self._tasks[task_id] = task
            self._forget_old_stopped()
        if self.state is not None and persist:
            self.state.save(task_id, request)
        if old is not None:
            old.stop_in_background()
            if self.state is not None:
                self.state.remove(old.id)
        return task

    # -- what clients ask (kept in the state directory as well) ------------------------

    def pause(self, task_id: int) -> Task:
        return self._pause(task_id, True)

    def resume(self, task_id: int) -> Task:
        return self._pause(task_id, False)

    def _pause(self, task_id: int, paused: bool) -> Task:
        task = self.get(task_id)
        task.pause() if paused else task.resume()
        if self.state is not None:
            self.state.set_paused(task.id, paused)
        return task

    def stop(self, task_id: int) -> Task:
        task = self.get(task_id)
        task.stop()
        if self.state is not None:
            self.state.remove(task.id)
        if isinstance(task, UnrestoredTask):
            with self._lock:
                self._tasks.pop(task.id, None)      # stopped: forgotten with its file
        return task

    def restore(self) -> list[str]:
        """Starts again every task of the state directory, with its id; paused ones
        paused. One that cannot start is listed as failed with the reason (never
        dropped). Returns a line per task for the server's log."""
        lines = []
        for task_id, request, paused, problem in self.state.saved() if self.state else []:
            if request is not None:
                task = None
                try:
                    task = self.start(request, persist=False, task_id=task_id)
                    if paused:
                        task.pause()
                    lines.append(f"restored task {task_id} ({task.name})"
                                 f"{', paused' if paused else ''}")
                    continue
                except EunomiaError as exc:
                    problem = str(exc)
                    if task is not None:    # started, could not pause: not left running
                        task.stop()
            with self._lock:
                self._tasks[task_id] = UnrestoredTask(task_id, request, problem)
                self._next_id = max(self._next_id, task_id + 1)
            lines.append(f"task {task_id} could not be restored: {problem}")
        return lines

    def _forget_old_stopped(self) -> None:
        """Keeps the last KEEP_STOPPED stopped tasks (and their logs) for reading."""
        # an unrestored task stays listed until a client stops it (and its file goes)
        stopped = [i for i, t in self._tasks.items()
                   if t.finished and not isinstance(t, UnrestoredTask)]
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


class TaskLimitError(EunomiaError):
    """The server runs as many tasks as it may."""
