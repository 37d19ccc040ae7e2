"""LinePrinter: records and map samples as lines of text (a table or JSON), a batch at a
time; `ecli run` writes them to stdout and a server task to its log."""

from __future__ import annotations

import json
import time

from .histogram import key_label
from .records import JsonFormatter, TableFormatter


class LinePrinter:
    """Turns records and samples into lines. A table repeats its header whenever the
    record type changes (several event maps), unless `header` is False."""

    def __init__(self, as_json: bool, header: bool = True):
        self.as_json = as_json
        self.header = header
        self._formatters: dict[str, object] = {}
        self._last_type = None

    def records(self, source, raws, now: float) -> list[str]:
        """Lines for a batch of raw records of one event source (EventSource)."""
        formatter = self._formatters.get(source.map_name)
        if formatter is None:
            formatter = (JsonFormatter(source.codec) if self.as_json
                         else TableFormatter(source.codec))
            self._formatters[source.map_name] = formatter
        lines = []
        if not self.as_json and self.header and self._last_type != source.type_name:
            lines.append(formatter.header)
        self._last_type = source.type_name
        lines.extend(formatter.rows(raws, now))
        return lines

    def sample(self, sampler, entries, now: float) -> list[str]:
        """Lines for one reading of a sampled map (MapSampler): histograms, or key/value
        pairs."""
        stamp = time.strftime("%H:%M:%S", time.localtime(now))
        if sampler.spec.kind.is_histogram:
            return self._histograms(sampler, entries, stamp)
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
                lines.append(key_label(key))
            lines.append(hist.render())
        return lines

