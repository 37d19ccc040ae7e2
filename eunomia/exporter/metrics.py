"""Metric series kept in memory, each metric capped at a number of series, and the
neutral snapshots that the Prometheus and OTLP renderers both read."""

from __future__ import annotations

import bisect
import threading
from typing import ClassVar

from ..valueclass import field, valueclass


@valueclass
class Snapshot:
    """One metric at one moment. `series` holds (label values, value) for counters and
    gauges, and (label values, HistogramPoint) for histograms."""

    kind: str                   # counter | gauge | histogram
    name: str
    description: str
    label_names: tuple[str, ...]
    series: list = field(default_factory=list)


@valueclass
class HistogramPoint:
    bounds: list[float]         # upper bounds, +Inf implied after the last
    counts: list[int]           # per bucket (not cumulative), len(bounds) + 1
    sum: float | None
    count: int
    min: float | None = None    # known for event histograms; a map's slots only bound it
    max: float | None = None

    def cumulative(self) -> list[tuple[str, int]]:
        """Prometheus buckets: (le, cumulative count), ending with +Inf."""
        result, running = [], 0
        for bound, count in zip(self.bounds, self.counts):
            running += count
            result.append((_bound_text(bound), running))
        result.append(("+Inf", self.count))
        return result


def _bound_text(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else repr(bound)


class Series:
    """Series of one metric by label values, at most `limit` of them: a new label set
    beyond the limit is dropped and counted, so memory stays bounded."""

    def __init__(self, limit: int):
        self.limit = limit
        self.values: dict[tuple, object] = {}
        self.dropped = 0

    def get(self, labels: tuple, make):
        value = self.values.get(labels)
        if value is None:
            if len(self.values) >= self.limit:
                self.dropped += 1
                return None
            value = self.values[labels] = make()
        return value


class EventCounter:
    def __init__(self, limit: int):
        self.series = Series(limit)

    def add(self, labels: tuple, amount: float) -> None:
        cell = self.series.get(labels, lambda: [0.0])
        if cell is not None:
            cell[0] += amount

    def snapshot(self, metric) -> Snapshot:
        names = tuple(label.name for label in metric.labels)
        return Snapshot("counter", metric.name, metric.description, names,
                        [(k, v[0]) for k, v in self.series.values.items()])


class EventHistogram:
    def __init__(self, limit: int, bounds: list[float]):
        self.series = Series(limit)
        self.bounds = bounds

    def observe(self, labels: tuple, value: float) -> None:
        cell = self.series.get(labels, lambda: [[0] * (len(self.bounds) + 1), 0.0, 0,
                                                value, value])
        if cell is not None:
            cell[0][bisect.bisect_left(self.bounds, value)] += 1   # le: value <= bound
            cell[1] += value
            cell[2] += 1
            cell[3], cell[4] = min(cell[3], value), max(cell[4], value)

    def snapshot(self, metric) -> Snapshot:
        names = tuple(label.name for label in metric.labels)
        return Snapshot("histogram", metric.name, metric.description, names,
                        [(k, HistogramPoint(self.bounds, list(v[0]), v[1], v[2], v[3], v[4]))
                         for k, v in self.series.values.items()])


class SelfCounters:
    """The exporter's own counters (events, losses, decoder errors, dropped events and
    series), by metric name and label values."""

    PROGRAM_MAP, PROGRAM_METRIC = ("program", "map"), ("program", "metric")
    SPECS: ClassVar[dict[str, tuple[str, tuple[str, ...]]]] = {
        "eunomia_exporter_events": ("events read", PROGRAM_MAP),
        "eunomia_exporter_lost_events": (
            "events the kernel dropped because the exporter fell behind", PROGRAM_MAP),
        "eunomia_exporter_queue_dropped_events": (
            "events dropped because the exporter's in-memory queue was full", PROGRAM_MAP),
        "eunomia_exporter_decoder_errors": (
            "label values that failed to decode", ("program", "metric", "label")),
        "eunomia_exporter_dropped_events": (
            "events dropped by a label decoder (regexp without a match)", PROGRAM_METRIC),
        "eunomia_exporter_dropped_series": (
            "label sets not recorded: the metric reached its series limit", PROGRAM_METRIC),
    }

    def __init__(self):
        self._lock = threading.Lock()
        self._values: dict[str, dict[tuple, float]] = {name: {} for name in self.SPECS}

    def add(self, name: str, labels: tuple, amount: float = 1) -> None:
        if amount:
            with self._lock:
                table = self._values[name]
                table[labels] = table.get(labels, 0) + amount

    def set_at_least(self, name: str, labels: tuple, total: float) -> None:
        """For totals kept elsewhere (perf-buffer loss counts): never goes down."""
        with self._lock:
            table = self._values[name]
            table[labels] = max(table.get(labels, 0), total)

    def snapshots(self) -> list[Snapshot]:
        with self._lock:
            return [Snapshot("counter", name, self.SPECS[name][0], self.SPECS[name][1],
                             list(self._values[name].items()))
                    for name in self.SPECS]
