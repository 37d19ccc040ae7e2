"""Records as OpenTelemetry log records, over OTLP/HTTP (`ecli run --otlp-logs URL`).

Each record becomes one log record: every field an attribute, typed (ints, strings,
bools; bytes as hex; nested values as JSON text), readable typed fields as the run prints
them (errno names, addresses, container fields); the body is the line the run prints,
or `--otlp-body` ('{comm} exited with {exit_code}'); the severity INFO, or taken from a
field (`--otlp-severity-field`).

Reading never waits for the collector: records go into a bounded queue that a thread of
its own sends in batches with the OpenTelemetry SDK's OTLP/HTTP exporter (which retries
with backoff). A full queue or a failed batch drops records, counted and reported like
every other loss. The SDK is imported only when logs are shipped.
"""

from __future__ import annotations

import collections
import json
import socket
import string
import threading
import time
from typing import Any

from ..errors import ArgumentError

QUEUE_RECORDS = 20_000      # log records waiting for the collector, at most
BATCH_RECORDS = 512         # log records per export request
SEND_EVERY = 1.0            # seconds between two exports of a partial batch
EXPORT_SECONDS = 5.0        # one export request, retries included
_SEVERITIES = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")


def template_fields(template: str) -> list[str]:
    """The field names a --otlp-body template names; ArgumentError when it is not one."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ArgumentError(f"--otlp-body {template[:80]!r}: {exc}") from None
    names = []
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion not in (None, "s", "r"):
            raise ArgumentError(f"--otlp-body {template[:80]!r}: '{{{name}...}}' is not a "
                                "field; write {field} (e.g. '{comm} exited with "
                                "{exit_code}')")
        names.append(name)
    return names


def check_settings(url: str, body: str | None, severity_field: str | None, printer,
                   sources) -> None:
    """ArgumentError, before anything loads, for a URL that is not one, an SDK that is
    not installed, or a --otlp-body / --otlp-severity-field field no record has (the
    container fields count)."""
    import importlib.util

    from ..net import http_url
    try:
        http_url(url)
    except ValueError as exc:
        raise ArgumentError(f"--otlp-logs {url[:80]!r}: {exc}, e.g. "
                            "http://127.0.0.1:4318/v1/logs") from None
    if importlib.util.find_spec("opentelemetry.exporter.otlp.proto.http") is None:
        raise ArgumentError("--otlp-logs needs OpenTelemetry's OTLP exporter: pip install "
                            "'eunomia[exporter]'")
    known = {name for source in sources for name, _, _ in printer.codec_of(source).fields}
    names = template_fields(body) if body else []
    names += [severity_field] if severity_field else []
    for name in names:
        if name not in known:
            option = "--otlp-severity-field" if name == severity_field else "--otlp-body"
            raise ArgumentError(f"{option} names no field '{name}' (the records' fields: "
                                f"{', '.join(sorted(known)) or 'none'})")


def attribute(value: Any):
    """A field's shown value as an OTLP attribute value."""
    if isinstance(value, (bool, int, float, str)):
        return value if not isinstance(value, int) or -(1 << 63) <= value < 1 << 63 \
            else str(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if hasattr(value, "folded"):            # a resolved stack
        return value.folded
    return json.dumps(value, separators=(",", ":"), default=str)


def severity_of(value: Any):
    """(SeverityNumber, text) from a field: a name (info, WARN, error...), or a number
    1-24 as OTLP counts them; INFO otherwise."""
    from opentelemetry._logs import SeverityNumber
    if isinstance(value, str):
        name = value.strip().upper()
        name = {"WARNING": "WARN", "ERR": "ERROR", "CRITICAL": "FATAL"}.get(name, name)
        if name in _SEVERITIES:
            return SeverityNumber[name], name
    elif isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 24:
        number = SeverityNumber(value)
        return number, number.name.rstrip("0123456789") or "INFO"
    return SeverityNumber.INFO, "INFO"


class LogShipper:
    """Sends a run's records as log records. `printer` (a LinePrinter without header)
    gives each record's line and shown values, so the log says what the run prints,
    filters included."""

    def __init__(self, url: str, printer, package, body: str | None = None,
                 severity_field: str | None = None, queue_records: int = QUEUE_RECORDS):
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.sdk.resources import Resource
        self.url = url
        self._printer = printer
        self._body = body
        self._severity_field = severity_field
        meta = package.meta
        doc = getattr(meta.bpf_skel, "doc", None)
        self._resource = Resource.create({
            "service.name": "eunomia", "host.name": socket.gethostname(),
            "eunomia.package.name": meta.bpf_skel.obj_name or "program",
            "eunomia.package.version": getattr(doc, "version", None) or ""})
        import requests

        from ..net import watch_sockets
        # the SDK's timeout bounds each read, not a request whose collector drips its
        # answer: a HeadersDeadline around each export bounds the whole of it
        session = requests.Session()
        self._sockets = watch_sockets(session)
        self._exporter = OTLPLogExporter(endpoint=url, timeout=EXPORT_SECONDS,
                                         session=session)
        self._limit = queue_records
        self._queue: collections.deque = collections.deque()
        self._wake = threading.Condition()
        self._closing = False
        self.sent = 0
        self.dropped_full = 0           # the queue was full
        self.dropped_failed = 0         # the collector refused or did not answer
        self._reported = (0, 0)
        self._busy = 0                  # records in the batch being sent
        self._thread = threading.Thread(target=self._send_loop, name="otlp-logs",
                                        daemon=True)
        self._thread.start()

    # -- the reading side: never waits -------------------------------------------------

    def records(self, source, raws, now: float) -> None:
        stamp = int(now * 1e9)
        for raw in raws:
            shown = self._printer.shown(source, raw)
            if shown is None:               # a --filter or the selection dropped it
                continue
            line = self._printer.line(source, raw, now)
            if len(self._queue) >= self._limit:
                self.dropped_full += 1
                continue
            self._queue.append((stamp, line, shown))
        if len(self._queue) >= BATCH_RECORDS:
            with self._wake:
                self._wake.notify()

    def report(self) -> list[str]:
        """Warnings about log records dropped since the last report."""
        full, failed = self.dropped_full, self.dropped_failed
        texts = []
        if full > self._reported[0]:
            texts.append(f"dropped {full - self._reported[0]} log records ({full} in all): "
                         f"the queue for {self.url} was full ({self._limit} records)")
        if failed > self._reported[1]:
            texts.append(f"dropped {failed - self._reported[1]} log records ({failed} in "
                         f"all): {self.url} did not take them")
        self._reported = (full, failed)
        return texts

    def close(self, bound: float) -> int:
        """Sends what is queued, within `bound` seconds; returns how many log records
        were left unsent (then dropped)."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._thread.join(max(bound, 0.0))
        left = len(self._queue) + (self._busy if self._thread.is_alive() else 0)
        self._queue.clear()
        try:
            self._exporter.shutdown()
        except Exception:  # noqa: BLE001, S110 (an SDK's own failure at the end)
            pass
        return left

    # -- the sending thread ------------------------------------------------------------

    def _send_loop(self) -> None:
        while True:
            with self._wake:
                if not self._closing and len(self._queue) < BATCH_RECORDS:
                    self._wake.wait(SEND_EVERY)
                closing = self._closing
            while self._queue:
                batch = [self._queue.popleft()
                         for _ in range(min(BATCH_RECORDS, len(self._queue)))]
                self._send(batch)
                if not closing:
                    break
            if closing:
                return

    def _send(self, batch: list) -> None:
        from opentelemetry._logs import LogRecord
        from opentelemetry.sdk._logs import ReadableLogRecord
        from opentelemetry.sdk._logs.export import LogRecordExportResult
        self._busy = len(batch)
        records = []
        for stamp, line, shown in batch:
            number, text = severity_of(shown.get(self._severity_field)) \
                if self._severity_field else severity_of(None)
            try:
                body = self._body.format_map(shown) if self._body else line
            except (KeyError, ValueError, TypeError):   # a field this record lacks
                body = line
            records.append(ReadableLogRecord(LogRecord(
                timestamp=stamp, observed_timestamp=time.time_ns(), severity_text=text,
                severity_number=number, body=body,
                attributes={k: attribute(v) for k, v in shown.items() if v is not None}),
                resource=self._resource))
        from ..net import HeadersDeadline
        try:
            with HeadersDeadline(self._sockets.current(), EXPORT_SECONDS) as deadline:
                result = self._exporter.export(records)
            if deadline.expired:
                # cut off: an answer cut short may even have parsed as a success
                result = None
        except Exception:  # noqa: BLE001 (a collector's answer must not end the run)
            result = None
        if result == LogRecordExportResult.SUCCESS:
            self.sent += len(batch)
        else:
            self.dropped_failed += len(batch)
        self._busy = 0
