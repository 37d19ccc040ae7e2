"""One configured program running for the exporter: a Session of the run core whose sink
turns events into counters and histograms as they arrive; its maps are read when metrics
are collected. Stopping writes every record already sent into the counters first."""

from __future__ import annotations

import threading
import time
from typing import Any

from ..errors import EunomiaError
from ..logs import Logger
from ..output.histogram import linear_histogram, log2_histogram
from ..session import Session, Sink, parse_run_args
from .config import Metric, ProgramConfig
from .decoders import Drop
from .metrics import EventCounter, EventHistogram, HistogramPoint, SelfCounters, Snapshot

log = Logger("eunomia.exporter")


def _number(value) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return value
    raise TypeError(f"not a number: {value!r}")


class _MetricsSink(Sink):
    """Events into the program's metrics; losses and drops into the self counters."""

    def __init__(self, program: RunningProgram):
        self.program = program

    def records(self, source, raws, now: float) -> None:
        self.program._count(source, raws)

    def warning(self, text: str) -> None:
        log.warning("program '%s': %s", self.program.name, text)

    def flush(self) -> None:
        self.program._update_losses()


class RunningProgram:
    """Opens, loads and attaches a program (raising if any of it fails), then reads its
    events through a session in a thread of its own until stopped."""

    def __init__(self, program_id: int, config: ProgramConfig, counters: SelfCounters):
        self.id = program_id
        self.config = config
        self.name = config.name
        self.counters = counters
        self._lock = threading.Lock()
        # a scrape reading maps and a stop closing them take turns: a map read after its
        # object is freed would use a dead fd (or a reused one)
        self._maps_lock = threading.Lock()
        self._stopped = False
        self._event_metrics: dict[str, list[tuple[Metric, Any]]] = {}
        self._map_metrics = [m for m in config.metrics if m.source == "map"]
        for metric in config.metrics:
            if metric.source == "event":
                store = (EventCounter(metric.max_series) if metric.kind == "counter"
                         else EventHistogram(metric.max_series, metric.buckets))
                self._event_metrics.setdefault(metric.map, []).append((metric, store))
        started = time.monotonic()
        settings = parse_run_args(config.package, config.args, service=True)
        self.session = Session(config.package, settings, _MetricsSink(self),
                               event_maps=None if config.logs else set(self._event_metrics),
                               sample_maps=False,
                               name=self.name)
        self.session.start()
        self._selected = self._container_selectors(settings)
        self.start_seconds = time.monotonic() - started
        try:
            self._maps = {m.map: self.session.loaded.maps[m.map] for m in self._map_metrics}
        except BaseException:
            self.session.stop()
            raise
        self.session.run_in_thread()

    @property
    def loaded(self):
        return self.session.loaded

    # -- events ----------------------------------------------------------------------

    def _update_losses(self) -> None:
        for source in self.session.sources:
            self.counters.set_at_least("eunomia_exporter_lost_events",
                                       (self.name, source.map_name), source.lost)
            self.counters.set_at_least("eunomia_exporter_queue_dropped_events",
                                       (self.name, source.map_name), source.dropped)

    def _container_selectors(self, settings) -> dict:
        """{event map: record -> kept} for --container / --k8s-* in the program's args,
        by the records' mount-namespace or cgroup field (output.containers)."""
        if not settings.output.containers:
            return {}
        printer = settings.printer(self.config.package)
        selectors = {source.map_name: printer.selector(source)
                     for source in self.session.sources}
        return {name: keep for name, keep in selectors.items() if keep is not None}

    def _count(self, source, raws: list) -> None:
        decode = source.codec.decode
        metrics = self._event_metrics.get(source.map_name, ())
        selected = self._selected.get(source.map_name)
        self.counters.add("eunomia_exporter_events", (self.name, source.map_name), len(raws))
        with self._lock:
            for raw in raws:
                try:
                    record = decode(raw)
                except EunomiaError:    # e.g. a short record: count it, keep going
                    self.counters.add("eunomia_exporter_decoder_errors",
                                      (self.name, source.map_name, "<record>"))
                    continue
                if selected is not None and not selected(record):
                    continue
                for metric, store in metrics:
                    labels = self._labels(metric, record)
                    if labels is None:
                        continue
                    try:
                        amount = 1 if metric.value is None else _number(record[metric.value])
                        if amount < 0 and metric.kind == "counter":
                            raise TypeError("a counter cannot go down")
                    except (TypeError, KeyError):
                        self.counters.add("eunomia_exporter_decoder_errors",
                                          (self.name, metric.name, metric.value or ""))
                        continue
                    if metric.kind == "counter":
                        store.add(labels, amount)
                    else:
                        store.observe(labels, amount)

    def _labels(self, metric: Metric, record) -> tuple | None:
        """The label values of one record, or None when a decoder drops it."""
        values = []
        for label in metric.labels:
            try:
                values.append(label.decode(record[label.field]))
            except Drop:
                self.counters.add("eunomia_exporter_dropped_events", (self.name, metric.name))
                return None
            except (ValueError, TypeError, KeyError, OverflowError):
                self.counters.add("eunomia_exporter_decoder_errors",
                                  (self.name, metric.name, label.name))
                return None
        return tuple(values)

    # -- collection ------------------------------------------------------------------

    def snapshots(self) -> list[Snapshot]:
        result = []
        with self._lock:
            for metrics in self._event_metrics.values():
                for metric, store in metrics:
                    result.append(store.snapshot(metric))
                    self.counters.set_at_least("eunomia_exporter_dropped_series",
                                               (self.name, metric.name),
                                               store.series.dropped)
        with self._maps_lock:
            for metric in [] if self._stopped else self._map_metrics:
                try:
                    result.append(self._map_snapshot(metric))
                except EunomiaError as exc:
                    log.warning("program '%s': cannot read map '%s': %s", self.name,
                                metric.map, exc)
        return result

    def _map_snapshot(self, metric: Metric) -> Snapshot:
        typed = self._maps[metric.map]
        per_cpu = typed.type_name.startswith(("percpu", "lru_percpu"))
        names = tuple(label.name for label in metric.labels)
        snapshot = Snapshot(metric.kind, metric.name, metric.description, names)
        series: dict[tuple, object] = {}    # keys whose labels agree are added up
        over = 0
        for key, value in typed.items():
            if per_cpu:
                value = _add_cpus(value)
            labels = self._labels(metric, key if isinstance(key, dict) else {"key": key})
            if labels is None:
                continue
            point = (_map_gauge(metric, value) if metric.kind == "gauge"
                     else _map_histogram(metric, value))
            if point is None:
                continue
            if labels in series:
                series[labels] = _merge(series[labels], point)
            elif len(series) >= metric.max_series:
                over += 1
            else:
                series[labels] = point
        # the label sets over the limit now (not a running count: scrapes would add up)
        self.counters.set_at_least("eunomia_exporter_dropped_series",
                                   (self.name, metric.name), over)
        snapshot.series = list(series.items())
        return snapshot

    # -- lifetime --------------------------------------------------------------------

    def bpf_stats(self) -> list[tuple[str, dict]]:
        """(BPF program name, kernel info with run_cnt/run_time_ns) per loaded program."""
        result = []
        with self._maps_lock:
            if self._stopped:
                return result
            for name, program in self.loaded.programs.items():
                try:
                    result.append((name, program.info()))
                except EunomiaError:
                    continue    # not loaded (autoload off)
        return result

    def stop(self) -> None:
        """Detaches, counts every record already sent, then closes (once no scrape is
        reading its maps; later scrapes skip them)."""
        with self._maps_lock:
            self._stopped = True
        self.session.stop()
        self._update_losses()


def _add_cpus(values: list):
    """Per-CPU values added up: numbers, slot arrays, or struct fields."""
    first = values[0]
    if isinstance(first, (int, float)):
        return sum(values)
    if isinstance(first, list):
        return [sum(column) for column in zip(*values)]
    if isinstance(first, dict):
        return {name: _add_cpus([v[name] for v in values]) for name in first}
    return first


def _merge(first, second):
    """Two points of the same labels: gauges added, histograms bucket by bucket."""
    if isinstance(first, HistogramPoint):
        total = None if first.sum is None or second.sum is None else first.sum + second.sum
        low = None if first.min is None or second.min is None else min(first.min, second.min)
        high = None if first.max is None or second.max is None else max(first.max, second.max)
        return HistogramPoint(first.bounds, [a + b for a, b in zip(first.counts,
                                                                     second.counts)],
                              total, first.count + second.count, low, high)
    return first + second


def _map_gauge(metric: Metric, value) -> float | None:
    if metric.value is not None:
        value = value[metric.value]
    try:
        return _number(value)
    except TypeError:
        return None


def _map_histogram(metric: Metric, value) -> HistogramPoint | None:
    slots = value[metric.slots] if metric.slots is not None else value
    if not isinstance(slots, list):
        return None
    hist = (linear_histogram(slots, metric.base, metric.step) if metric.slot_type == "linear"
            else log2_histogram(slots))
    # a slot holds integers in [low, high]: `le` is its high end
    bounds = [float(b.high) for b in hist.buckets]
    counts = [b.count for b in hist.buckets] + [0]
    total = sum(counts)
    known_sum = float(value[metric.sum]) if metric.sum is not None else None
    return HistogramPoint(bounds, counts, known_sum, total)
