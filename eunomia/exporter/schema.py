"""The shape of the exporter's configuration (eunomia-bpf's format) as pydantic models:
what each key may hold. config.py checks the rest against each package's BTF (fields,
maps, types). The same models type the body of the management POST /start, so its
OpenAPI document says every key."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
)

METRIC_NAME = r"^[a-zA-Z_:][a-zA-Z0-9_:]*$"
LABEL_NAME = r"^[a-zA-Z_][a-zA-Z0-9_]*$"


class _Entry(BaseModel):
    """Strict kinds (true is no number, "5" is no number), no unknown keys."""

    model_config = ConfigDict(strict=True, extra="forbid", populate_by_name=True)


def _name_only(value: Any) -> Any:
    return {"name": value} if isinstance(value, str) else value


class LabelEntry(_Entry):
    @field_validator("name")
    @classmethod
    def _label_name(cls, name: str) -> str:
        if not re.match(LABEL_NAME, name):
            raise ValueError(f"{name!r} is not a Prometheus label name")
        if name.startswith("__"):
            raise ValueError(f"the label name '{name}' is reserved")
        return name

    name: str = Field(description="the Prometheus label name")
    source: str | None = Field(None, alias="from", description="the field it comes from "
                               "(default: the label's name)")
    decoders: list[Any] = Field(default_factory=list, description="turn the field's value "
                                "into the label's text, in order (docs/exporter.md)")


def bucket_bounds(spec: Any) -> list[float]:
    """exp2 | {type: exp2, count} | {type: linear, start, width, count} | [bounds...]:
    the upper bounds of the buckets (+Inf is implied); ValueError saying what is wrong."""
    if spec == "exp2":
        spec = {"type": "exp2"}
    if isinstance(spec, list):
        if not spec or not all(_number(b) and math.isfinite(b) for b in spec) or \
                sorted(spec) != spec or len(set(spec)) != len(spec):
            raise ValueError("explicit buckets must be increasing finite numbers")
        return [float(b) for b in spec]
    if not isinstance(spec, dict) or spec.get("type") not in ("exp2", "linear") or \
            set(spec) - {"type", "count", "start", "width"}:
        raise ValueError("'buckets' is exp2, {type: exp2, count: N}, {type: linear, start, "
                         "width, count} or a list of bounds")
    count = spec.get("count", 64 if spec["type"] == "exp2" else 10)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 1000:
        raise ValueError("buckets.count must be in 1..1000")
    if spec["type"] == "exp2":
        return [float(1 << i) for i in range(count)]
    start, width = spec.get("start", 0), spec.get("width", 1)
    if not _number(start) or not _number(width) or width <= 0:
        raise ValueError("linear buckets need a number 'start' and a positive 'width' "
                         "(each within +-2^63)")
    return [float(start + width * i) for i in range(count)]


BOUND_LIMIT = 1 << 63


def _number(value: Any) -> bool:
    """A number a bucket bound may be: not a bool, and within +-2^63 (a bigger int does
    not even convert to a float)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        -BOUND_LIMIT <= value <= BOUND_LIMIT


class MetricEntry(_Entry):
    """A counter, histogram or gauge; which keys apply depends on the kind and on
    whether it reads events or a map (docs/exporter.md)."""

    name: str = Field(description="the Prometheus metric name")
    description: str | None = None
    labels: list[Annotated[LabelEntry, BeforeValidator(_name_only)]] | None = None
    value: str | None = Field(None, description="the field counted, observed or shown")
    map: str | None = Field(None, description="the map: of events, or read at scrape time")
    max_series: int | None = Field(None, ge=1, le=10_000_000,
                                   description="label sets kept at most")
    buckets: Any = Field("exp2", description="event histograms: exp2, {type: exp2, count}, "
                         "{type: linear, start, width, count} or a list of bounds")
    slots: str | None = Field(None, description="map histograms: the array of counts")
    type: Literal["log2", "linear"] = Field("log2", description="map histograms' slots")
    base: int = Field(0, ge=-BOUND_LIMIT, le=BOUND_LIMIT)
    step: int = Field(1, ge=1, le=BOUND_LIMIT)
    sum: str | None = Field(None, description="map histograms: the field of the sum")

    @field_validator("name")
    @classmethod
    def _metric_name(cls, name: str) -> str:
        if not re.match(METRIC_NAME, name):
            raise ValueError(f"{name!r} is not a Prometheus metric name")
        return name

    @field_validator("buckets")
    @classmethod
    def _buckets(cls, buckets):
        bucket_bounds(buckets)
        return buckets


def _none_is_empty(value: Any) -> Any:
    return [] if value is None else value


MetricList = Annotated[list[MetricEntry], BeforeValidator(_none_is_empty)]


class Metrics(_Entry):
    counters: MetricList = Field(default_factory=list)
    histograms: MetricList = Field(default_factory=list)
    gauges: MetricList = Field(default_factory=list)


class LogsEntry(_Entry):
    """`logs:` of a program: its records as OpenTelemetry log records (docs/otel.md)."""

    endpoint: str = Field(description="the OTLP/HTTP logs URL, e.g. "
                          "http://127.0.0.1:4318/v1/logs")
    body: str | None = Field(None, description="the body template, e.g. '{comm} exited' "
                             "(default: the record's line as ecli run prints it)")
    severity_field: str | None = Field(None, description="the field the severity comes "
                                       "from (default: INFO)")

    def args(self) -> list[str]:
        """The same settings as ecli run's flags."""
        found = ["--otlp-logs", self.endpoint]
        if self.body is not None:
            found += ["--otlp-body", self.body]
        if self.severity_field is not None:
            found += ["--otlp-severity-field", self.severity_field]
        return found


class ProgramEntry(_Entry):
    """One program: a package, its flags and the metrics it feeds."""

    name: str = Field(min_length=1)
    compiled_ebpf_filename: str | None = Field(None, description="a package file (relative "
                                               "to the config) or an image; over HTTP only "
                                               "an image")
    ebpf_data: str | dict | None = Field(None, description="the package itself (its text "
                                         "or its JSON object)")
    args: list[Annotated[str, BeforeValidator(
        lambda a: str(a) if isinstance(a, int) and not isinstance(a, bool) else a)]] = Field(
        default_factory=list, description="the program's flags, as for ecli run")
    metrics: Annotated[Metrics, BeforeValidator(lambda m: {} if m is None else m)] = Field(
        default_factory=Metrics)
    logs: LogsEntry | None = Field(None, description="send every record as an "
                                   "OpenTelemetry log record too")


class ConfigFile(_Entry):
    programs: list[ProgramEntry] = Field(min_length=1)
