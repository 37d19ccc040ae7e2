"""Snapshots -> the Prometheus text exposition format (through prometheus_client)."""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import CollectorRegistry
from prometheus_client.samples import Sample


class SnapshotCollector:
    """A prometheus_client collector reading the exporter's snapshots at scrape time."""

    def __init__(self, exporter):
        self.exporter = exporter

    def collect(self):
        for snap in self.exporter.snapshots():
            labels = list(snap.label_names)
            if snap.kind == "histogram":
                family = HistogramMetricFamily(snap.name, snap.description, labels=labels)
                for values, point in snap.series:
                    family.add_metric(list(values), point.cumulative(), point.sum)
                    if point.sum is None:   # prometheus_client writes _count with _sum only
                        family.samples.append(Sample(f"{snap.name}_count",
                                                     dict(zip(labels, values)), point.count))
            else:
                make = CounterMetricFamily if snap.kind == "counter" else GaugeMetricFamily
                family = make(snap.name, snap.description, labels=labels)
                for values, value in snap.series:
                    family.add_metric(list(values), value)
            yield family


def render(exporter) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(exporter))
    return generate_latest(registry)
