"""LinePrinter: records and map samples as lines of text (a table or JSON), a batch at a
time; `ecli run` writes them to stdout and a server task to its log."""

from __future__ import annotations

import json
import time

from ..containers import ContainerSelection
from ..errors import ArgumentError
from .containers import EnrichedCodec, check_selection, enriched
from .filters import record_filter
from .formats import check_field_names, field_formats, format_names, formatter, readable
from .records import CsvFormatter, FoldedFormatter, JsonFormatter, TableFormatter, YamlFormatter

# --output MODE -> the formatter of a record type: (codec, formats, fields)
_SHAPERS = {
    "table": lambda codec, formats, fields: TableFormatter(codec, formats=formats,
                                                           fields=fields),
    "json": JsonFormatter, "csv": CsvFormatter, "yaml": YamlFormatter,
    "folded": FoldedFormatter,
}
OUTPUTS = tuple(_SHAPERS)


class LinePrinter:
    """Turns records and samples into lines. A table repeats its header whenever the
    record type changes (several event maps), unless `header` is False."""

    def __init__(self, output: str = "table", header: bool = True,
                 formats: dict[str, str] | None = None, fields: list[str] | None = None,
                 filters: list | None = None):
        self.output = output            # one of OUTPUTS
        self.as_json = output == "json"
        self.header = header
        self.formats = dict(formats or {})      # field -> format name (--format)
        self.fields = list(fields) if fields else None      # --fields
        self.filters = list(filters or [])      # output.filters.Condition (--filter)
        self._keep = record_filter(self.filters)
        self.stack_lookup = None        # stack id -> addresses (set by whoever has maps)
        self.type_formats: dict[str, dict[str, str]] = {}   # struct -> {field: format}
        self.stack_traces: dict = {}    # map -> output.stack_trace.StackTrace
        self.sort: str | None = None    # --sort FIELD: sampled maps, largest first
        self.top: int | None = None     # --top N: the first N entries of each sample
        self.selection = ContainerSelection()      # --container, --k8s-*
        self.kernel_filter = False      # the package filters containers in the kernel
        self.container_source = None    # () -> the ContainerMap (default: shared_map())
        self.container_map = None       # a ContainerMap, made on first use
        self._formatters: dict[str, object] = {}
        self._formats_of: dict[str, dict] = {}
        self._codecs: dict[str, object] = {}
        self._last_type = None

    def check(self, sources) -> None:
        """ArgumentError for --format/--fields/--filter names that no record of `sources`
        (EventSources or events.RecordSpecs) has."""
        codecs = [self.codec_of(source) for source in sources]
        check_selection(self.selection, codecs, self.kernel_filter)
        check_field_names(codecs, self.formats, "--format")
        check_field_names(codecs, self.fields or (), "--fields")
        check_field_names(codecs, [c.field for c in self.filters], "--filter")
        for source in sources:
            interpreter = self.stack_traces.get(source.map_name)
            if interpreter is not None:
                interpreter.check(source.map_name,
                                  [name for name, _, _ in source.codec.fields])
        for name in self.formats.values():
            formatter(name)
        shapers = [self._shaper(source) for source in sources]
        if self.output == "folded" and not any(s.has_stacks for s in shapers):
            raise ArgumentError("--stacks folded needs a stack field: type it "
                                "eunomia_kstack_t, or say --format FIELD=kstack")

    def records(self, source, raws, now: float) -> list[str]:
        """Lines for a batch of raw records of one event source (EventSource)."""
        shaper = self._shaper(source)
        if self.filters or self.selection and \
                isinstance(self.codec_of(source), EnrichedCodec):
            raws = self._kept(source, raws)
        lines = []
        if self.output in ("table", "csv") and self.header and \
                self._last_type != source.type_name:
            lines.append(shaper.header)
        self._last_type = source.type_name
        lines.extend(shaper.rows(raws, now))
        return lines

    def _shaper(self, source):
        """The formatter of `source`'s records (made on first use)."""
        shaper = self._formatters.get(source.map_name)
        if shaper is None:
            codec = self.codec_of(source)
            names = [name for name, _, _ in codec.fields]
            fields = None if self.fields is None else [f for f in self.fields if f in names]
            shaper = _SHAPERS[self.output](codec, self._field_formats(source), fields)
            self._formatters[source.map_name] = shaper
        return shaper

    def _field_formats(self, source) -> dict:
        """{field: function} of `source`'s records, made once (a ksym format reads
        kallsyms): the package's formats, then --format over them."""
        formats = self._formats_of.get(source.map_name)
        if formats is None:
            formats = field_formats(source.codec, self._chosen(source), self._stack_addresses)
            interpreter = self.stack_traces.get(source.map_name)
            if interpreter is not None:         # upstream's stack_trace interpreter
                formats.update(interpreter.formats())
            self._formats_of[source.map_name] = formats
        return formats

    def _chosen(self, source) -> dict[str, str]:
        return {**self.type_formats.get(source.type_name, {}), **self.formats}

    def codec_of(self, source):
        """`source`'s codec as its records are shown: with the container fields when a
        field names a container (output.containers)."""
        codec = self._codecs.get(source.map_name)
        if codec is None:
            codec = self._codecs[source.map_name] = enriched(
                source.codec, format_names(source.codec, self._chosen(source)),
                self._containers)
        return codec

    def _containers(self):
        if self.container_map is None:
            from ..containers import shared_map
            self.container_map = (self.container_source or shared_map)()
        return self.container_map

    def _stack_addresses(self, stack_id: int):
        """`stack_lookup`, looked up when a stack is shown: the printer is made and
        checked before the maps exist, and the formats it makes then are kept."""
        lookup = self.stack_lookup
        return lookup(stack_id) if lookup is not None else None

    def _kept(self, source, raws) -> list:
        """The records every --filter condition holds for (on readable values), of the
        selected containers."""
        return [raw for raw in raws if self.shown(source, raw) is not None]

    def shown(self, source, raw) -> dict | None:
        """A raw record's values as the run shows them (formats applied, container fields
        added); None when a --filter or the container selection drops it."""
        codec = self.codec_of(source)
        record = codec.decode(raw)      # numbers as numbers (128-bit too), for number tests
        if isinstance(codec, EnrichedCodec):
            values, container = codec.values_and_owner(record)
            if self.selection and not self.selection.matches(container):
                return None
        else:
            values = codec.to_json(record)
        shown = readable(values, self._field_formats(source))
        return shown if not self.filters or self._keep(shown, record) else None

    def selector(self, source):
        """decoded record -> whether the container selection keeps it, for front ends
        that count records rather than print them (the exporter); None when nothing is
        selected or the records name no container (a kernel filter did the work)."""
        codec = self.codec_of(source)
        if not self.selection or not isinstance(codec, EnrichedCodec):
            return None
        return lambda record: self.selection.matches(codec.owner(record)[0])

    def line(self, source, raw, now: float) -> str:
        """The line the run prints for one raw record (no header)."""
        return self._shaper(source).rows([raw], now)[0]

    def sample(self, sampler, entries, now: float) -> list[str]:
        """Lines for one reading of a sampled map (MapSampler): histograms, or key/value
        pairs (sorted by --sort, cut to --top)."""
        stamp = time.strftime("%H:%M:%S", time.localtime(now))
        if sampler.spec.kind.is_histogram:
            return self._histograms(sampler, entries, stamp)
        entries = ordered(entries, self.sort, self.top)
        lines = []
        for key, value in entries:
            key_json = sampler.key_codec.to_json(key)
            value_json = sampler.value_codec.to_json(value)
            if self.as_json:
                lines.append(json.dumps({"time": stamp, "map": sampler.name,
                                         "key": key_json, "value": value_json}))
            else:
                lines.append(f"{stamp} {sampler.name} {json.dumps(key_json)} -> "
                             f"{json.dumps(value_json)}")
        return lines

    def _histograms(self, sampler, entries, stamp: str) -> list[str]:
        from .histogram import key_label  # loaded with the first histogram
        histograms = sampler.histograms(entries)
        if self.as_json:
            return [json.dumps({"time": stamp, "map": sampler.name,
                                "key": sampler.key_codec.to_json(key),
                                "histogram": hist.to_dict()})
                    for key, hist in histograms]
        lines = [f"{stamp} {sampler.name}"]
        for key, hist in histograms:
            # A struct key always names its section, as BCC's section headers do.
            if len(histograms) > 1 or isinstance(key, dict):
                lines.append(key_label(sampler.key_codec.to_json(key)))
            lines.append(hist.render())
        return lines



def _sort_value(entry, field: str):
    """The value of `field` in a (key, value) entry: a member of the value, else of the
    key; "key" and "value" name scalar ones."""
    key, value = entry
    for part, name in ((value, "value"), (key, "key")):
        if isinstance(part, dict) and field in part:
            return part[field]
        if field == name:
            return part
    raise ArgumentError(f"--sort names no field '{field}' of the sampled map's keys or "
                        "values")


def ordered(entries: list, sort: str | None, top: int | None) -> list:
    """Entries sorted by `sort`, largest first (numbers before text), cut to `top`."""
    if sort:
        def rank(entry):
            value = _sort_value(entry, sort)
            return (0, -value, "") if isinstance(value, (int, float)) else (1, 0, str(value))
        entries = sorted(entries, key=rank)
    return entries[:top] if top is not None else entries
