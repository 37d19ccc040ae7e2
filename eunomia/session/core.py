"""The run core: one run of a package, the same for every front end (`ecli run`, server
tasks, exporter programs, fleet agents).

    session = Session(package, parse_run_args(package, ["--targ_pid", "42"]), sink)
    session.start()          # open -> load -> attach (all or nothing)
    session.run()            # read events, sample maps, hand batches to the sink ...
                             # ... until request_stop() or the duration; then finish

Finishing is the same for every kind of stop: detach every program (nothing more reaches
the rings), then hand every record still queued or in the rings to the sink, then close.
It is bounded: `stop_bound` seconds (or abandon(), a second Ctrl-C) give up on the rest,
and the sink is told how many records were not written. Nothing is dropped silently: a
full queue, a perf-buffer loss and a nearly full ring are each reported to the sink.
"""

from __future__ import annotations

import os
import re
import select
import threading
import time
from collections.abc import Collection

from ..defaults import POLL_TIMEOUT_MS
from ..errors import EunomiaError, FlowControl
from ..events import EventReader, EventSource, untyped_hint
from ..kinds import TRACE_PIPE, SessionState
from ..loaded import BackgroundLoad, LoadedPackage, load_package
from ..runtime.ringbuf import RecordBatch
from ..valueclass import field, valueclass
from .container_filter import container_filter
from .settings import RunSettings

CHUNK_RECORDS = 4096        # records handed to a sink at once: bounds its memory and the
                            # time to notice an abandon
NEARLY_FULL = 0.9           # a ring this full between two reads is about to drop records


class Abandoned(FlowControl):
    """Finishing gave up on the records left (a second Ctrl-C, or the stop bound). A sink
    interrupted in the middle of a batch sets `delivered` to the records it did write."""

    def __init__(self, message: str = "abandoned", delivered: int = 0):
        super().__init__(message)
        self.delivered = delivered


class Sink:
    """Where a session's output goes. Every method is called from the thread that runs the
    session; override what you need (the defaults ignore everything)."""

    def records(self, source: EventSource, raws, now: float) -> None:
        """A batch of raw records of one event map (a RecordBatch or a list of bytes);
        `source.codec` decodes them. `now` is the Unix time they were read."""

    def sample(self, sampler, entries: list, now: float) -> None:
        """One reading of a sampled map: (key, value) pairs, decoded."""

    def warning(self, text: str) -> None:
        """Losses, drops, a nearly full ring, records not written at the stop."""

    def trace(self, text: str) -> None:
        """Lines of bpf_printk output (with --trace)."""

    def flush(self) -> None:
        """End of one round of output."""

    def stopping(self, bound: float) -> None:
        """Finishing starts; it may take `bound` seconds more at most."""


@valueclass
class StopReport:
    """How a session ended: records handed to the sink per event map, and how many were
    left unwritten (abandoned) at the stop."""

    delivered: dict[str, int] = field(default_factory=dict)
    unwritten: int = 0
    reason: str = ""        # "" (all written), "abandoned" or "bound"


def _chunks(raws, size: int):
    """`raws` in pieces of at most `size` records, without copying record bytes."""
    if isinstance(raws, RecordBatch):
        yield from raws.pieces(size)
        return
    for start in range(0, len(raws), size):
        yield raws[start:start + size]


class Session:
    """One package run from open to close; see the module's docstring.

    `event_maps` limits which ring buffers and perf event arrays are read (default all);
    `sample_maps=False` leaves sampled maps to the caller (the exporter reads them at
    scrape time); `loading` is the package's load (loaded.BackgroundLoad) when the
    caller started it already, with these settings' values and BTF."""

    def __init__(self, package, settings: RunSettings | None = None, sink: Sink | None = None,
                 *, event_maps: Collection[str] | None = None, sample_maps: bool = True,
                 stop_bound: float | None = None, name: str | None = None,
                 loading: BackgroundLoad | None = None):
        self.package = package
        self._loading = loading             # the kernel's load, started by the caller
        self.settings = settings or RunSettings()
        self.sink = sink or Sink()
        self.name = name or package.meta.bpf_skel.obj_name or "program"
        self.stop_bound = self.settings.stop_bound if stop_bound is None else stop_bound
        self.state = SessionState.STARTING
        self.loaded: LoadedPackage | None = None
        self.sources: list[EventSource] = []
        self.samplers: list = []
        self.delivered: dict[str, int] = {}
        self.report: StopReport | None = None
        self.error: str | None = None
        self._event_maps = None if event_maps is None else set(event_maps)
        self._sample_maps = sample_maps
        self._reader: EventReader | None = None    # None: no event map to read
        self._trace_fd: int | None = None
        self._stop = threading.Event()
        self._stop_deadline: float | None = None     # monotonic; set by the stop request
        self._abandon = threading.Event()
        self._lock = threading.RLock()      # attach/detach against pause/resume/finish
        self._thread: threading.Thread | None = None
        self._pending = 0                   # records taken from the queue, not yet written
        self._own_tids = {str(os.getpid())}     # trace lines of our own writes are dropped
        self._container_filter = None       # fills <eunomia/containers.bpf.h>'s map
        self._shipper = None                # --otlp-logs (output.otlp_logs.LogShipper)

    # -- start -----------------------------------------------------------------------

    def start(self) -> Session:
        """Opens, loads and attaches every program, opens the readers and samplers; on
        any failure everything made so far is closed and the error raised."""
        loading, self._loading = self._loading, None
        if loading is not None:
            loaded = loading.result()
        else:
            loaded = load_package(self.package, self.settings.values, btf=self.settings.btf)
        try:
            # the readers before the programs: a perf buffer drops what comes earlier
            reader = loaded.event_reader(self.settings.record_types, self._event_maps)
            self.sources = reader.sources
            self._start_container_filter(loaded)
            loaded.attach(options=self.settings.attach)
            self.delivered = {s.map_name: 0 for s in self.sources}
            if self.sources:
                self._reader = reader.background(self.settings.queue_bytes)
            self.samplers = loaded.samplers() if self._sample_maps else []
            self._start_log_shipper()
            if self.settings.trace:
                self._trace_fd = _open_trace_pipe()
        except BaseException:
            self._reader = None
            loaded.close()
            raise
        self.loaded = loaded
        self.state = SessionState.RUNNING
        for source in self.sources:
            if source.untyped:
                self.sink.warning(untyped_hint(source, self.package))
        return self

    def _start_container_filter(self, loaded) -> None:
        output = self.settings.output
        if output.containers:
            self._container_filter = container_filter(loaded, output.containers,
                                                      output.container_map())
            if self._container_filter is not None:
                self._container_filter.sync(rescan=True)

    def _start_log_shipper(self) -> None:
        settings = self.settings
        if settings.otlp_logs and self.sources:
            from ..output.otlp_logs import LogShipper, check_settings
            printer = settings.log_printer(self.package)
            printer.stack_lookup = self.stack_lookup
            check_settings(settings.otlp_logs, settings.otlp_body,
                           settings.otlp_severity_field, printer, self.sources)
            self._shipper = LogShipper(settings.otlp_logs, printer, self.package,
                                       settings.otlp_body, settings.otlp_severity_field)

    @property
    def backlog(self) -> int:
        """Records read from the kernel and not yet handed to the sink (no lock taken:
        a signal handler may ask)."""
        queued = self._reader.queued_records if self._reader is not None else 0
        return queued + self._pending

    def stack_lookup(self, stack_id: int) -> list[int] | None:
        """The addresses of `stack_id` in the package's stack trace map (the first, when
        there are several); None when there is none or the id is gone."""
        for typed in (self.loaded.maps.values() if self.loaded is not None else ()):
            if getattr(typed, "type_name", "") == "stack_trace":
                try:
                    return typed[stack_id]
                except (KeyError, EunomiaError):
                    return None
        return None

    @property
    def attached(self) -> int:
        """How many programs are attached now."""
        return len(self.loaded.links) if self.loaded is not None else 0

    # -- control (from any thread, or a signal handler) ---------------------------------

    def request_stop(self) -> None:
        """Ends run(): it finishes (detach, write what is left, close) and returns.
        Writing what is left may take `stop_bound` seconds from now at most."""
        if self._stop_deadline is None:
            self._stop_deadline = time.monotonic() + self.stop_bound
        self._stop.set()
        if self._reader is not None:
            self._reader.wake()

    def abandon(self) -> None:
        """Gives up on the records left, if finishing is under way or about to be."""
        self._abandon.set()
        self.request_stop()

    def gave_up(self) -> bool:
        """Whether the records left are to be abandoned now (abandon(), or the stop bound
        passed). A sink whose write blocks asks this while it waits, and raises
        Abandoned when it is true."""
        deadline = self._stop_deadline
        return self._abandon.is_set() or (deadline is not None and
                                          time.monotonic() >= deadline)

    def pause(self) -> bool:
        """Detaches every program; reading, maps and counts stay. False if not running."""
        with self._lock:
            if self.state is not SessionState.RUNNING:
                return False
            self.loaded.detach()
            self.state = SessionState.PAUSED
            return True

    def resume(self) -> bool:
        with self._lock:
            if self.state is not SessionState.PAUSED:
                return False
            self.loaded.attach(options=self.settings.attach)
            self.state = SessionState.RUNNING
            return True

    # -- running ---------------------------------------------------------------------

    def run(self) -> StopReport:
        """Reads events and samples maps into the sink until request_stop() or the
        settings' duration, then finishes. Runs in the calling thread."""
        if self.state not in (SessionState.RUNNING, SessionState.PAUSED):
            raise EunomiaError(f"session '{self.name}' is {self.state.value}, not running")
        try:
            self._loop()
        except Abandoned:
            pass            # a sink gave up a stalled write: _finish says why
        except BaseException:
            self.state = SessionState.FAILED
            self._close()
            raise
        return self._finish()

    def run_in_thread(self) -> Session:
        """run() in a thread of its own; stop() ends it. A failure while reading sets
        `error` and the FAILED state, and goes to the sink as a warning."""
        def target():
            try:
                self.run()
            except EunomiaError as exc:
                self._fail(str(exc))
            except Exception as exc:  # noqa: BLE001 (a service must not die silently)
                self._fail(f"internal error: {type(exc).__name__}: {exc}")
        self._thread = threading.Thread(target=target, name=f"session-{self.name}",
                                        daemon=True)
        self._thread.start()
        return self

    def _fail(self, text: str) -> None:
        self.error = text
        self.state = SessionState.FAILED
        try:
            self.sink.warning(text)
        except Exception:  # noqa: BLE001, S110 (the sink itself may be what failed)
            pass

    def stop(self) -> StopReport | None:
        """Stops and finishes (see run()); from another thread than the one running it.
        Returns the report, or None when the session had failed."""
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout=self.stop_bound + 30)
        elif self.state in (SessionState.RUNNING, SessionState.PAUSED):
            return self._finish()       # started, never run
        return self.report

    def _poll_seconds(self) -> float:
        return max(int(self.package.meta.poll_timeout_ms or POLL_TIMEOUT_MS), 1) / 1000.0

    def _loop(self) -> None:
        poll_s = self._poll_seconds()
        start = time.monotonic()
        duration = self.settings.duration
        deadline = start + duration if duration is not None else None
        next_sample = {s.name: start + s.spec.interval for s in self.samplers}
        while not self._stop.is_set():
            now = time.monotonic()
            wait = poll_s
            if next_sample:
                wait = min(wait, max(0.0, min(next_sample.values()) - now))
            if deadline is not None:
                wait = min(wait, max(0.0, deadline - now))
            if self._reader is not None:
                self._deliver(wait)
                self._report_losses()
            elif self._trace_fd is not None:
                select.select([self._trace_fd], [], [], wait)
            else:
                self._stop.wait(wait)
            self._read_trace()
            if self._container_filter is not None:
                self._container_filter.tick()
            now = time.monotonic()
            for sampler in self.samplers:
                if now >= next_sample[sampler.name]:
                    self._sample(sampler)
                    next_sample[sampler.name] = now + sampler.spec.interval
            self.sink.flush()
            if deadline is not None and now >= deadline:
                break

    def _deliver(self, timeout: float) -> int:
        """Hands the batches read so far (waiting up to `timeout` s) to the sink, in
        chunks; returns how many records that was."""
        batches = self._reader.read(timeout)
        self._pending = sum(len(raws) for _, raws in batches)
        wall = time.time()
        count = 0
        for source, raws in batches:
            for part in _chunks(raws, CHUNK_RECORDS):
                if self._abandon.is_set():
                    raise Abandoned()
                try:
                    self.sink.records(source, part, wall)
                except Abandoned as exc:
                    self._pending -= exc.delivered
                    self.delivered[source.map_name] += exc.delivered
                    raise
                self._pending -= len(part)
                self.delivered[source.map_name] += len(part)
                if self._shipper is not None:
                    self._shipper.records(source, part, wall)
                count += len(part)
        return count

    def _sample(self, sampler) -> None:
        self.sink.sample(sampler, sampler.read(), time.time())

    def _read_trace(self) -> None:
        if self._trace_fd is None:
            return
        chunks = []
        while True:
            try:
                chunk = os.read(self._trace_fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        if chunks:
            text = b"".join(chunks).decode("utf-8", "replace").rstrip("\n")
            # A program tracing every write would see ours of its own lines: a loop.
            text = "\n".join(line for line in text.split("\n")
                              if _trace_task(line) not in self._own_tids)
            if text:
                self.sink.trace(text)

    def _report_losses(self) -> None:
        """New perf-buffer losses and queue drops, and a nearly full ring (once)."""
        if self._shipper is not None:
            for text in self._shipper.report():
                self.sink.warning(text)
        for source in self.sources:
            lost = source.lost
            if lost > source.lost_reported:
                self.sink.warning(f"lost {lost - source.lost_reported} events from map "
                                  f"'{source.map_name}' ({lost} in all): the kernel found "
                                  "the perf buffer full")
                source.lost_reported = lost
            dropped = source.dropped
            if dropped > source.dropped_reported:
                self.sink.warning(
                    f"dropped {dropped - source.dropped_reported} records from map "
                    f"'{source.map_name}' ({dropped} in all): the output fell behind and "
                    f"the queue ({_mib(self.settings.queue_bytes)}) was full; "
                    "--queue-size makes it larger")
                source.dropped_reported = dropped
            fill = getattr(source.reader, "fill_ratio", 0.0)
            if fill >= NEARLY_FULL and not source.warned_full:
                self.sink.warning(f"ring buffer '{source.map_name}' was {fill:.0%} full: the "
                                  "kernel side drops events when it is full (make the map "
                                  "larger)")
                source.warned_full = True

    # -- finishing -------------------------------------------------------------------

    def _finish(self) -> StopReport:
        """Detach, write everything left (bounded), close."""
        with self._lock:
            self.state = SessionState.STOPPING
        if self._stop_deadline is None:         # the duration ran out
            self._stop_deadline = time.monotonic() + self.stop_bound
        reason = ""
        unwritten = 0
        try:
            try:
                self.loaded.detach()     # from here on nothing reaches the rings
                if self._reader is not None:
                    self._reader.finish()
                    self.sink.stopping(max(0.0, self._stop_deadline - time.monotonic()))
                    while not self.gave_up() and self._deliver(0):
                        pass
                self._read_trace()
            except Abandoned:
                pass
            if self.gave_up():
                reason = "abandoned" if self._abandon.is_set() else "bound"
            if reason and self._reader is not None:
                unwritten = self._pending + self._reader.discard()
                self._pending = 0
            self._close_shipper()
            self._report_losses()
            if unwritten:
                why = (f"finishing took more than {self.stop_bound:g} s" if reason == "bound"
                       else "stopped again")
                self.sink.warning(f"{why}: {unwritten} records left in the queue and the "
                                  "rings were not written")
            self.sink.flush()
        finally:
            self._close()
        self.report = StopReport(dict(self.delivered), unwritten, reason if unwritten else "")
        return self.report

    def _close_shipper(self) -> None:
        """Sends the log records still queued, within what is left of the stop bound."""
        if self._shipper is None:
            return
        shipper, self._shipper = self._shipper, None
        left = shipper.close(max(0.0, (self._stop_deadline or 0) - time.monotonic()))
        for text in shipper.report():
            self.sink.warning(text)
        if left:
            self.sink.warning(f"{left} log records were not sent to {shipper.url} before "
                              "the stop bound")

    def _close(self) -> None:
        """Closes everything without writing what is left (after a failure)."""
        if self._shipper is not None:
            self._shipper.close(0.0)
            self._shipper = None
        with self._lock:
            try:
                if self.loaded is not None:
                    self.loaded.close()     # its event reader too
            finally:
                if self._trace_fd is not None:
                    os.close(self._trace_fd)
                    self._trace_fd = None
                if self.state is not SessionState.FAILED:
                    self.state = SessionState.STOPPED


_TRACE_TASK = re.compile(r"^\s*.*?-(\d+)\s+\[\d+\]")


def _trace_task(line: str) -> str | None:
    """The thread id of a trace_pipe line ("  comm-1234  [001] ...: bpf_trace_printk")."""
    match = _TRACE_TASK.match(line)
    return match.group(1) if match else None


def _mib(size: int) -> str:
    return f"{size / (1 << 20):g} MiB" if size >= 1 << 20 else f"{size} bytes"


def _open_trace_pipe() -> int:
    try:
        return os.open(TRACE_PIPE, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise EunomiaError(f"cannot read {TRACE_PIPE}: {exc.strerror} (is tracefs mounted? "
                           "mount -t tracefs nodev /sys/kernel/tracing)") from None
