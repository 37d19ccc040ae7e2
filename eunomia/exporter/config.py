"""The exporter's configuration (eunomia-bpf's format, YAML or JSON), parsed and checked
against each package's BTF without touching the kernel.

    programs:
      - name: opensnoop
        compiled_ebpf_filename: ../opensnoop/package.json    # or ebpf_data: <package text>
        args: ["--targ_uid", "1000"]
        metrics:
          counters:   [{name, description, labels, value?, map?, max_series?}]
          histograms: [{name, description, labels, value, buckets}]          # from events
                      [{name, description, map, slots?, type?, sum?, labels}] # from a map
          gauges:     [{name, description, map, value?, labels}]              # from a map

Every error names the file, the program and the entry that is wrong, in one line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .. import defaults
from ..btf import Array, Const, Struct, Typedef, Union, Volatile
from ..btf.maps import defined_maps
from ..errors import ArgumentError, EunomiaError, validation_line
from ..events import record_type_id
from ..files import read_text_bounded
from ..kinds import EVENT_MAP_TYPES
from ..package import Package
from ..valueclass import field, valueclass
from .decoders import DecoderError, decoder_chain
from .schema import ConfigFile, LabelEntry, MetricEntry, ProgramEntry, bucket_bounds

DEFAULT_MAX_SERIES = defaults.MAX_SERIES
MAX_CONFIG_BYTES = defaults.BODY_LIMIT     # a config file is read as a request body is


class ConfigError(ArgumentError):
    """The configuration is wrong; the message names the file, program and entry."""


@valueclass
class Label:
    name: str
    field: str
    decode: Any             # value -> label text; raises decoders.Drop


@valueclass
class Metric:
    """One metric of one program. `source` is "event" (updated per record of `map`) or
    "map" (read from `map` at scrape time)."""

    kind: str               # counter | histogram | gauge
    name: str
    description: str
    labels: list[Label]
    source: str
    map: str
    value: str | None = None
    buckets: list[float] = field(default_factory=list)    # event histograms
    slots: str | None = None                                # map histograms
    slot_type: str = "log2"
    base: int = 0
    step: int = 1
    sum: str | None = None
    max_series: int = DEFAULT_MAX_SERIES


@valueclass
class ProgramConfig:
    name: str
    package: Package
    args: list[str]
    metrics: list[Metric]
    logs: bool = False          # its records go out as OTLP log records too (every map)


@valueclass
class ExporterConfig:
    programs: list[ProgramConfig]
    path: str = "<config>"


def load_config(path: str, max_series: int = DEFAULT_MAX_SERIES) -> ExporterConfig:
    """Reads and checks a config file (YAML or JSON)."""
    try:
        text = read_text_bounded(path, MAX_CONFIG_BYTES)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise ConfigError(f"{path}: not YAML or JSON{where}: "
                          f"{getattr(exc, 'problem', exc)}") from None
    except (ValueError, RecursionError) as exc:     # an int of 5,000 digits; nesting
        raise ConfigError(f"{path}: not YAML or JSON: {str(exc)[:100] or 'nested too deeply'}") \
            from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: needs a 'programs' list")
    try:
        config = ConfigFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {problem_line(exc, data)}") from None
    base = Path(path).resolve().parent
    programs = [parse_program(entry, f"{path}: programs[{i}]", base, max_series)
                for i, entry in enumerate(config.programs)]
    check_unique_metrics(programs, path)
    return ExporterConfig(programs, path)


SELF_METRIC_PREFIXES = ("eunomia_exporter_", "eunomia_bpf_program_")


def exposed_names(metric: Metric) -> tuple[str, ...]:
    """The sample names a metric writes: counters as <name>_total, histograms with
    _bucket, _sum and _count."""
    if metric.kind == "counter":
        base = metric.name.removesuffix("_total")
        return (base + "_total", base)
    if metric.kind == "histogram":
        return tuple(metric.name + suffix for suffix in ("", "_bucket", "_sum", "_count"))
    return (metric.name,)


def check_unique_metrics(programs: list[ProgramConfig], where: str,
                         taken: dict[str, str] | None = None) -> None:
    """No two metrics may write the same sample names (nor use the exporter's own)."""
    seen: dict[str, str] = dict(taken or {})
    for program in programs:
        for metric in program.metrics:
            if metric.name.startswith(SELF_METRIC_PREFIXES):
                raise ConfigError(f"{where}: program '{program.name}': metric "
                                  f"'{metric.name}': names starting with "
                                  f"{' or '.join(SELF_METRIC_PREFIXES)} are the exporter's own")
            for name in exposed_names(metric):
                if name in seen:
                    raise ConfigError(f"{where}: program '{program.name}': metric "
                                      f"'{metric.name}' writes '{name}', as does a metric "
                                      f"of program '{seen[name]}'")
            for name in exposed_names(metric):
                seen[name] = program.name


def parse_program(entry: ProgramEntry, where: str, base: Path | None = None,
                  max_series: int = DEFAULT_MAX_SERIES, remote: bool = False) -> ProgramConfig:
    """One `programs` entry (also the body of the management POST /start, `remote`: it
    may name no file of this machine, as a package or in its args), checked against its
    package (its shape is checked by the model already)."""
    where = f"{where} ({entry.name})"
    filename = entry.compiled_ebpf_filename
    if remote and filename is not None and not _is_image(filename, None):
        raise ConfigError(f"{where}: compiled_ebpf_filename must be an image reference "
                          "here (a remote client names no file of the exporter's machine); "
                          "send the package itself as ebpf_data")
    package = _package(entry, where, base, remote)
    args = [*entry.args, *(entry.logs.args() if entry.logs is not None else ())]
    _check_args(package, args, where, remote)
    layout = PackageLayout(package)
    metrics = []
    for kind_plural, kind in (("counters", "counter"), ("histograms", "histogram"),
                              ("gauges", "gauge")):
        for i, metric in enumerate(getattr(entry.metrics, kind_plural)):
            metrics.append(_metric(kind, metric, f"{where}: metrics.{kind_plural}[{i}] "
                                                 f"({metric.name})", layout, max_series))
    if not metrics and entry.logs is None:
        raise ConfigError(f"{where}: defines no metrics and no logs")
    return ProgramConfig(entry.name, package, args, metrics, logs=entry.logs is not None)


def problem_line(exc: ValidationError, doc: Any) -> str:
    """pydantic's first complaint about `doc` as one line, each list item named by its
    'name' where it has one: "programs[0] (p): metrics.counters[1] (c): max_series:
    must be at least 1"."""
    error = exc.errors(include_url=False)[0]
    location, kind = list(error["loc"]), error["type"]
    missing = location.pop() if kind in ("missing", "extra_forbidden") else None
    text, here = "", doc
    for step in location:
        if isinstance(step, int):
            text += f"[{step}]"
            here = here[step] if isinstance(here, list) and step < len(here) else None
            if isinstance(here, dict) and isinstance(here.get("name"), str):
                text += f" ({here['name']}): "
            continue
        here = here.get(step) if isinstance(here, dict) else None
        text += step if not text or text.endswith(": ") else f".{step}"
    text = text.removesuffix(": ")
    if kind == "missing":
        what = f"missing '{missing}'"
    elif kind == "extra_forbidden":
        what = f"unknown key '{missing}'"
    else:
        what = validation_line([{**error, "loc": ()}], "").removeprefix(": ")
    return f"{text}: {what}" if text else what


def _package(entry: ProgramEntry, where: str, base: Path | None,
             remote: bool = False) -> Package:
    filename, data = entry.compiled_ebpf_filename, entry.ebpf_data
    if (filename is None) == (data is None):
        raise ConfigError(f"{where}: give one of 'compiled_ebpf_filename' or 'ebpf_data'")
    try:
        if remote:      # someone else's: checked in a child process before it is read here
            from ..package.source import read_image
            from ..runtime.untrusted import check_untrusted
            content = read_image(str(filename))[0] if filename is not None else \
                data.encode() if isinstance(data, str) else \
                data if isinstance(data, bytes) else json.dumps(data).encode()
            check_untrusted(content)
            package = Package.load(content)
        elif filename is not None and _is_image(str(filename), base):
            package = Package.load(str(filename))       # HOST/NAME:TAG, via the cache
        elif filename is not None:
            path = Path(str(filename))
            if not path.is_absolute() and base is not None:
                path = base / path      # relative to the config file, as Prometheus does
            if not path.exists():
                raise ConfigError(f"{where}: compiled_ebpf_filename: no file {path} (build "
                                  "it with ecc)")
            package = Package.load(str(path))
        else:
            package = Package.load(data if isinstance(data, (str, bytes)) else json.dumps(data))
        package.btf()
    except ConfigError:
        raise
    except EunomiaError as exc:
        raise ConfigError(f"{where}: the package: {exc}") from None
    return package


def _is_image(name: str, base: Path | None) -> bool:
    from ..oci import looks_like_reference
    local = Path(name) if Path(name).is_absolute() or base is None else base / name
    return not local.exists() and looks_like_reference(name)


def _check_args(package: Package, args: list[str], where: str, remote: bool) -> None:
    from ..session import parse_run_args
    try:
        # the printer's checks too: --container, --otlp-body name fields of the records
        parse_run_args(package, args, service=True, remote=remote).printer(package)
    except EunomiaError as exc:
        raise ConfigError(f"{where}: args: {exc}") from None


class PackageLayout:
    """What a package's maps carry, from its BTF: event record structs, map key and value
    types, map types."""

    def __init__(self, package: Package):
        self.package = package
        self.btf = package.btf()
        self.maps = self._maps()

    def _maps(self) -> dict[str, dict]:
        return {d.name: {"type": d.map_type, "key": d.key, "value": d.value}
                for d in defined_maps(self.btf)}

    def event_maps(self) -> list[str]:
        return [name for name, m in self.maps.items() if m["type"] in EVENT_MAP_TYPES]

    def record_fields(self, map_name: str) -> dict[str, int]:
        found = record_type_id(self.package, self.btf, map_name)
        return self.fields(found[0] if found is not None else None)

    def fields(self, type_id: int | None) -> dict[str, int]:
        """Member name -> type id of a struct (empty for a scalar)."""
        if type_id is None:
            return {}
        _, t = self.btf.resolve(type_id)
        if isinstance(t, (Struct, Union)):
            return {m.name: m.type for m in t.members if m.name}
        return {}

    def size(self, type_id: int) -> int:
        return self.btf.sizeof(type_id)

    def is_array(self, type_id: int) -> bool:
        t = self.btf[type_id]
        while isinstance(t, (Typedef, Const, Volatile)):
            t = self.btf[t.type]
        return isinstance(t, Array)


def _metric(kind: str, entry: MetricEntry, where: str, layout: PackageLayout,
            max_series: int) -> Metric:
    description = entry.description or entry.name
    limit = entry.max_series or max_series
    if kind == "gauge" or (kind == "histogram" and entry.value is None):
        return _map_metric(kind, entry, where, layout, description, limit)
    event_maps = layout.event_maps()
    map_name = entry.map
    if map_name is None:
        if len(event_maps) != 1:
            raise ConfigError(f"{where}: say which map's events to count with 'map' (one "
                              f"of {', '.join(event_maps) or 'none: the package sends no events'})")
        map_name = event_maps[0]
    elif map_name not in event_maps:
        raise ConfigError(f"{where}: map '{map_name}' sends no events (event maps: "
                          f"{', '.join(event_maps) or 'none'})")
    try:
        fields = layout.record_fields(map_name)
    except EunomiaError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    labels = _labels(entry.labels, where, fields, layout, kind=kind)
    if entry.value is not None:
        _field(entry.value, fields, where, "value")
    buckets = bucket_bounds(entry.buckets) if kind == "histogram" else []
    return Metric(kind, entry.name, description, labels, "event", map_name,
                  value=entry.value, buckets=buckets, max_series=limit)


def _map_metric(kind: str, entry: MetricEntry, where: str, layout: PackageLayout,
                description: str, limit: int) -> Metric:
    map_name = entry.map
    if map_name not in layout.maps or layout.maps[map_name]["type"] in EVENT_MAP_TYPES:
        plain = [n for n, m in layout.maps.items() if m["type"] not in EVENT_MAP_TYPES
                 and not n.startswith("eunomia_")]      # ours (containers.bpf.h)
        what = "a histogram needs 'value' (a field of the events) or 'map'" if (
            kind == "histogram" and map_name is None) else "'map' must name a map"
        raise ConfigError(f"{where}: {what} (maps read at scrape time: "
                          f"{', '.join(plain) or 'none'})")
    found = layout.maps[map_name]
    key_fields = layout.fields(found["key"])
    if not key_fields and found["key"] is not None:
        key_fields = {"key": found["key"]}     # a scalar key: label it `from: key`
    value_fields = layout.fields(found["value"])
    labels = _labels(entry.labels, where, key_fields, layout, what="key", kind=kind)
    metric = Metric(kind, entry.name, description, labels, "map", map_name,
                    max_series=limit)
    if kind == "gauge":
        if entry.value is not None:
            _field(entry.value, value_fields, where, "value", what="value")
        elif value_fields:
            raise ConfigError(f"{where}: map '{map_name}' holds a struct: say which field "
                              f"with 'value' ({', '.join(value_fields)})")
        metric.value = entry.value
        return metric
    slots = entry.slots
    if slots is None and value_fields:
        slots = "slots" if "slots" in value_fields else None
        if slots is None:
            raise ConfigError(f"{where}: say which array of map '{map_name}' holds the "
                              f"slots with 'slots' ({', '.join(value_fields)})")
    if slots is not None:
        _field(slots, value_fields, where, "slots", what="value")
        array_type = value_fields[slots]
    else:
        array_type = found["value"]
    if not layout.is_array(array_type):
        raise ConfigError(f"{where}: the slots of map '{map_name}' must be an array")
    metric.slots, metric.slot_type = slots, entry.type
    metric.base, metric.step = entry.base, entry.step
    if entry.sum is not None:
        _field(entry.sum, value_fields, where, "sum", what="value")
        metric.sum = entry.sum
    return metric


def _field(name: str, fields: dict, where: str, key: str, what: str = "event") -> None:
    if name not in fields:
        known = ", ".join(fields) or "none: it is not a struct"
        raise ConfigError(f"{where}: {key}: no field '{name}' in the {what} ({known})")


def _labels(entries: list[LabelEntry] | None, where: str, fields: dict,
            layout: PackageLayout, what: str = "event", kind: str = "counter") -> list[Label]:
    labels = []
    for i, entry in enumerate(entries or []):
        here = f"{where}: labels[{i}]"
        if kind == "histogram" and entry.name == "le":
            raise ConfigError(f"{here}: the label name 'le' is reserved")
        source = entry.source or entry.name
        _field(source, fields, here, "from", what=what)
        try:
            decode = decoder_chain(entry.decoders, layout.size(fields[source]))
        except DecoderError as exc:
            raise ConfigError(f"{here}: {exc}") from None
        labels.append(Label(entry.name, source, decode))
    names = [label.name for label in labels]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}: a label name is used twice")
    return labels
