"""The fleet agent inside `ecli server --fleet`: it registers its node under a lease,
watches the desired state, converges the server's tasks to it, and writes back what it
runs.

Converging: a desired package whose selector matches this node's labels runs as one task
named after it. A new version starts with `replace` (it attaches before the old task
detaches, as `ecli client start --replace` does); a package no longer desired, or no
longer selecting this node, stops. If a new version fails to start, the old one keeps
running, the status says both, and the start is tried again 2, 4, 8 ... s apart (at most
60 s): an interface or a file that was missing may be there later. A task that ends
without being asked to is started again the same way.

Failures: with etcd out of reach the agent keeps its tasks running, says so once on the
log, and retries; the local API serves all the while. When its lease is lost (a long
partition) it registers again and rewrites its status.
"""

from __future__ import annotations

import os
import threading
import time

from ..errors import EunomiaError, PackageError
from ..logs import Logger
from ..server.tasks import StartRequest, TaskManager
from ..session import SessionState
from ..valueclass import valueclass
from .model import Desired, DesiredSummary, FleetView, Keys, NodeRecord, TaskStatus, matches
from .store import Store, StoreUnavailable

log = Logger("eunomia.fleet")

RETRY_S = 2.0                   # between attempts to reach etcd
STATUS_INTERVAL_S = 1.0         # counters are written back this often
START_RETRY_S = 2.0             # a version that failed to start is tried again after
START_RETRY_MAX_S = 60.0        # 2, 4, 8 ... s, at most this long apart


@valueclass
class Running:
    """What this node runs of one desired package."""

    version: int
    task_id: int | None
    since: float
    error: str = ""
    running_version: int = 0
    attempts: int = 0               # failed starts of this version
    next_try: float = 0.0           # monotonic time of the next start, after a failure

    def due(self) -> bool:
        return bool(self.error) and time.monotonic() >= self.next_try


class FleetAgent:
    def __init__(self, store: Store, keys: Keys, node: str, labels: dict[str, str],
                 tasks: TaskManager, lease_ttl: int = 10, api_url: str = ""):
        self.store, self.keys, self.node, self.labels = store, keys, node, labels
        self.tasks, self.lease_ttl, self.api_url = tasks, lease_ttl, api_url
        self.lease = 0
        self._running: dict[str, Running] = {}
        self._desired: dict[str, Desired] = {}     # as last read: what retries converge to
        self._written: dict[str, bytes] = {}
        self._stop = threading.Event()
        self._converge_lock = threading.Lock()
        self._publish_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._last_problem = ""

    # -- life -------------------------------------------------------------------------

    def start(self) -> None:
        for target, name in ((self._main_loop, "fleet-watch"),
                             (self._status_loop, "fleet-status"),
                             (self._lease_loop, "fleet-lease")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stops watching and reporting; the server then stops the tasks, and release()
        lets the node and its status go."""
        self._stop.set()
        self.store.cancel_watches()
        for thread in self._threads:
            thread.join(timeout=10)

    def release(self) -> None:
        """Revokes the lease: the node and its status leave etcd at once."""
        if self.lease:
            try:
                self.store.revoke(self.lease)
            except EunomiaError:
                pass            # the lease expires on its own
            self.lease = 0

    def _problem(self, text: str) -> None:
        """Says a problem once, not at every retry."""
        if text != self._last_problem:
            log.warning("%s; retrying every %g s (local tasks keep running)",
                        text, RETRY_S)
            self._last_problem = text

    # -- registering and watching -----------------------------------------------------

    def _register(self) -> None:
        """A lease, then the node record under it; waits while another live agent holds
        this node name (a restart before the old lease expired)."""
        record = NodeRecord(node=self.node, labels=self.labels, kernel=os.uname().release,
                            features=_features(), started_at=time.time(),
                            api=self.api_url).to_json()
        while not self._stop.is_set():
            lease = self.store.grant(self.lease_ttl)
            if self.store.put_if(self.keys.node(self.node), record, 0, lease) is not None:
                self.lease = lease
                self._written.clear()
                log.info("node %s registered in etcd at %s (lease %ds)",
                            self.node, self.store.endpoints, self.lease_ttl)
                self._last_problem = ""
                return
            self.store.revoke(lease)
            self._problem(f"node name {self.node!r} is held by another live agent (or by "
                          "this one before a restart, until its lease expires)")
            self._stop.wait(RETRY_S)

    def _main_loop(self) -> None:
        while not self._stop.is_set():
            try:
                if not self.lease:
                    self._register()
                    continue
                entries, revision = self.store.range(self.keys.desired_prefix)
                self._converge(*self._read(entries))
                self._follow(revision + 1)
            except StoreUnavailable as exc:
                self._problem(str(exc))
                self._stop.wait(RETRY_S)
            except EunomiaError as exc:
                self._problem(f"etcd: {exc}")
                self._stop.wait(RETRY_S)
            except Exception as exc:  # noqa: BLE001 (a bug must not end convergence for good)
                log.error("fleet watch: internal error: %s: %s", type(exc).__name__, exc)
                self._stop.wait(RETRY_S)

    def _follow(self, revision: int) -> None:
        """Converges again at every change of the desired state, until the watch ends."""
        for change in self.store.watch(self.keys.desired_prefix, revision, self._stop):
            entries, _ = self.store.range(self.keys.desired_prefix)
            self._converge(*self._read(entries))
            del change

    def _read(self, entries) -> tuple[dict[str, Desired], dict[str, tuple[int, str]]]:
        """The desired packages, and {name: (version, why)} of the entries that are not
        one (written by hand, too large, of the wrong shape): those are reported in the
        status, never passed over in silence."""
        desired, broken = {}, {}
        for entry in entries:
            name = self.keys.name_of(entry.key, self.keys.desired_prefix)
            try:
                read = Desired.read(entry)
                if read.name != name:
                    raise PackageError(f"the entry names itself {read.name[:64]!r}, not "
                                       f"{name!r} as its key does")
                desired[name] = read
            except EunomiaError as exc:
                why = f"{name}: cannot read the fleet's entry: {exc}"
                broken[name] = (entry.mod_revision, why)
        return desired, broken

    # -- converging -------------------------------------------------------------------

    def _converge(self, desired: dict[str, Desired],
                  broken: dict[str, tuple[int, str]] | None = None) -> None:
        broken = broken or {}
        with self._converge_lock:
            self._desired = desired
            wanted = {name: d for name, d in desired.items() if matches(d.selector, self.labels)}
            for name, entry in sorted(wanted.items()):
                try:
                    self._bring_up(entry)
                except Exception as exc:  # noqa: BLE001 (one entry must not stop the rest)
                    self._unreadable(name, entry.version, f"{name} version {entry.version} "
                                     f"cannot start: internal error: {type(exc).__name__}: "
                                     f"{exc}")
            for name, (version, why) in sorted(broken.items()):
                self._unreadable(name, version, why)
            for name in [n for n in self._running if n not in wanted and n not in broken]:
                self._take_down(name)
        self.publish()          # at once: `ecli fleet apply --wait` is waiting for it

    def _unreadable(self, name: str, version: int, why: str) -> None:
        """An entry this agent cannot read: said in its status (whatever ran of an
        earlier version keeps running), and not tried again until the entry changes."""
        current = self._running.get(name)
        if current is not None and current.version == version and current.error == why:
            return
        old = self._task(current)
        log.warning("%s", why)
        self._running[name] = Running(version, old.id if old is not None else None,
                                      time.time(), why,
                                      (current.running_version or current.version)
                                      if old is not None else 0,
                                      next_try=float("inf"))

    def _lookup(self, running: Running | None):
        """The server's task for `running`, finished or not; None if it has none."""
        if running is None or running.task_id is None:
            return None
        try:
            return self.tasks.get(running.task_id)
        except EunomiaError:
            return None             # forgotten by the server (stopped long ago)

    def _task(self, running: Running | None):
        """The task for `running` while it still runs."""
        task = self._lookup(running)
        return None if task is None or task.finished else task

    def _retry_due(self) -> None:
        """Starts again what should run and does not: a version that failed to start
        (an interface or a file that was missing may be there now), or a task that ended
        without being asked to (it failed at run time, or was stopped through the local
        API), each once its wait is over."""
        with self._converge_lock:
            for name, running in self._running.items():
                if running.error or running.task_id is None:
                    continue
                task = self._lookup(running)
                if task is None or task.finished:
                    why = (task.error or task.status.value) if task is not None else "gone"
                    self._failed(running, f"{name}: the task ended ({why})")
            due = any(running.due() for running in self._running.values())
        if due:
            self._converge(dict(self._desired))

    @staticmethod
    def _failed(running: Running, reason: str) -> None:
        running.attempts += 1
        wait = min(START_RETRY_MAX_S, START_RETRY_S * 2 ** (running.attempts - 1))
        running.error = f"{reason} (attempt {running.attempts}; again in {wait:g} s)"
        running.next_try = time.monotonic() + wait
        log.warning("%s", running.error)

    def _bring_up(self, entry: Desired) -> None:
        current = self._running.get(entry.name)
        same = current is not None and current.version == entry.version
        if same and not current.due():
            return
        old = self._task(current)
        request = StartRequest(entry.package, program_name=entry.name,
                               extra_args=list(entry.args),
                               replace=old.id if old is not None else None,
                               program_signature=entry.signature or None,
                               image_proof=entry.image or None)
        try:
            entry.content()         # the digest the entry claims, checked
            task = self.tasks.start(request, persist=False)     # etcd keeps it
        except EunomiaError as exc:
            previous = current.running_version or current.version if current and old \
                else 0
            failed = Running(entry.version, old.id if old is not None else None,
                             current.since if same else time.time(), "", previous,
                             current.attempts if same else 0)
            self._failed(failed, f"{entry.name} version {entry.version} failed to start: "
                                 f"{exc}")
            self._running[entry.name] = failed
            return
        verb = "updated" if old is not None else "started"
        log.info("%s %s (version %d, task %d)", verb, entry.name, entry.version,
                    task.id)
        # a restart of the same version keeps its count: a crash loop backs off further
        self._running[entry.name] = Running(entry.version, task.id, time.time(),
                                            attempts=current.attempts if same else 0)

    def _take_down(self, name: str) -> None:
        """Stops the task first, then removes its status: once the status is gone, no
        program of it is left."""
        task = self._task(self._running.get(name))
        if task is not None:
            task.stop()
            log.info("stopped %s (no longer desired here)", name)
        with self._publish_lock:
            self._running.pop(name, None)
            self._written.pop(name, None)
            try:
                self.store.delete(self.keys.status(self.node, name))
            except EunomiaError:
                pass            # the lease takes it when it expires

    # -- status -----------------------------------------------------------------------

    def view(self) -> FleetView:
        """The fleet as this agent reads it from etcd (GET /fleet, the dashboard)."""
        from .control import Fleet
        fleet = Fleet(self.store, self.keys)
        return FleetView(nodes=fleet.nodes(), status=fleet.status(), desired=[
            DesiredSummary(name=d.name, version=d.version, selector=d.selector, args=d.args,
                           source=d.source, digest=d.digest, applied_at=d.applied_at)
            for d in fleet.desired()])

    def statuses(self) -> list[TaskStatus]:
        out = []
        for name, running in list(self._running.items()):
            task = self._lookup(running)
            summary = task.summary() if task is not None else None
            state = SessionState.FAILED if running.error or summary is None \
                else summary.status
            out.append(TaskStatus(
                node=self.node, name=name, version=running.version, state=state,
                since=running.since, events=summary.events if summary else 0,
                lost=summary.lost if summary else 0,
                dropped=summary.dropped if summary else 0, error=running.error,
                running_version=running.running_version))
        return out

    def publish(self) -> None:
        """Writes each task's status that changed since it was last written."""
        with self._publish_lock:
            if not self.lease:
                return
            for status in self.statuses():
                body = status.to_json()
                if self._written.get(status.name) != body:
                    self.store.put(self.keys.status(self.node, status.name), body, self.lease)
                    self._written[status.name] = body

    def _lease_loop(self) -> None:
        """Keeps the lease alive in a thread of its own: loading programs (a start, a
        retry) can take seconds on a loaded node, longer than a short lease lives."""
        while not self._stop.wait(STATUS_INTERVAL_S / 2):
            lease = self.lease
            if not lease:
                continue
            try:
                if not self.store.keep_alive(lease):
                    log.warning("the lease of node %s expired; registering again",
                                self.node)
                    if self.lease == lease:
                        self.lease = 0
                        self.store.cancel_watches()     # the watch loop registers again
            except StoreUnavailable as exc:
                self._problem(str(exc))
            except EunomiaError as exc:
                self._problem(f"etcd: {exc}")
            except Exception as exc:  # noqa: BLE001 (a bug must not end the keep-alives)
                log.error("fleet lease: internal error: %s: %s", type(exc).__name__, exc)

    def _status_loop(self) -> None:
        while not self._stop.wait(STATUS_INTERVAL_S / 2):
            if not self.lease:
                continue
            try:
                self._retry_due()
                self.publish()
            except StoreUnavailable as exc:
                self._problem(str(exc))
            except EunomiaError as exc:
                self._problem(f"etcd: {exc}")
            except Exception as exc:  # noqa: BLE001 (a bug must not end the reports for good)
                log.error("fleet status: internal error: %s: %s", type(exc).__name__, exc)


def _features() -> dict[str, bool]:
    from .. import features
    try:
        return {name: bool(answer) for name, answer in features.summary().items()}
    except EunomiaError:
        return {}
