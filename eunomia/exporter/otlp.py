"""Snapshots pushed over OTLP/HTTP every interval (opentelemetry-exporter-otlp)."""

from __future__ import annotations

import threading
import time

from ..logs import Logger

log = Logger("eunomia.exporter")


def metrics_data(snapshots, start_ns: int):
    """The exporter's snapshots as OpenTelemetry SDK metrics data (cumulative)."""
    from opentelemetry.sdk.metrics.export import (
        AggregationTemporality,
        Gauge,
        Histogram,
        HistogramDataPoint,
        Metric,
        MetricsData,
        NumberDataPoint,
        ResourceMetrics,
        ScopeMetrics,
        Sum,
    )
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    now = time.time_ns()
    cumulative = AggregationTemporality.CUMULATIVE
    metrics = []
    for snap in snapshots:
        def attributes(values, names=snap.label_names):
            return dict(zip(names, values))
        if snap.kind == "histogram":
            # sum, min and max are optional in OTLP: unknown ones (a map's log2 slots
            # bound the values, they do not give them) are left out, not sent as 0
            points = [HistogramDataPoint(attributes(v), start_ns, now, p.count, p.sum,
                                         p.counts, p.bounds, p.min, p.max)
                      for v, p in snap.series]
            data = Histogram(points, cumulative)
        else:
            points = [NumberDataPoint(attributes(v), start_ns, now, value)
                      for v, value in snap.series]
            data = (Sum(points, cumulative, True) if snap.kind == "counter"
                    else Gauge(points))
        if points:
            metrics.append(Metric(snap.name, snap.description, "", data))
    scope = ScopeMetrics(InstrumentationScope("eunomia.exporter"), metrics, "")
    resource = Resource.create({"service.name": "eunomia-exporter"})
    return MetricsData([ResourceMetrics(resource, [scope], "")])


class OtlpPusher:
    """Pushes the exporter's metrics to an OTLP/HTTP endpoint every `interval` s."""

    def __init__(self, exporter, endpoint: str, interval: float = 10.0,
                 headers: dict | None = None):
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        self.exporter = exporter
        # each push (its retries included) gives up after this long, so that a collector
        # that went away cannot hold up the pushes after it, or the exporter's exit
        self.timeout = max(1.0, min(interval, 5.0))
        self.otlp = OTLPMetricExporter(endpoint=endpoint, headers=headers,
                                       timeout=self.timeout)
        self.interval = interval
        self.start_ns = time.time_ns()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="otlp", daemon=True)

    def start(self) -> OtlpPusher:
        self._thread.start()
        return self

    def push(self) -> bool:
        result = self.otlp.export(metrics_data(self.exporter.snapshots(), self.start_ns))
        ok = getattr(result, "name", "") == "SUCCESS"
        if not ok:
            log.warning("OTLP push to %s failed", self.otlp._endpoint)
        return ok

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.push()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + self.timeout)
        self.push()         # the last figures
        self.otlp.shutdown()
