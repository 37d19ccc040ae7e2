"""Event records as text: an aligned table (TIME, then one column per field) or JSON lines.

Column widths come from the record's C types, not from the values seen, because rows are
printed as they arrive: a pid column is as wide as a pid can reasonably be, a char[16]
as its string. A value wider than its column pushes the rest of the row right, as BCC's
tools do; the last column is never padded.
"""

from __future__ import annotations

import json
import re
import struct
import time
from typing import Any

from ..runtime.ringbuf import RecordBatch
from .formats import readable
from .terminal import terminal_safe

# Typical printed width of an integer, by its size in bytes.
_INT_WIDTHS = {1: 4, 2: 6, 4: 7, 8: 12, 16: 20}
_CHAR_ARRAY = re.compile(r"^(?:unsigned |signed )?char\[(\d+)\]$")
_TIME_WIDTH = 8
_TEXT_CACHE_LIMIT = 1 << 16      # distinct char-array values remembered per formatter


def _batch_function(count: int, texts: list[int]):
    """format_batch(rows, template, cache, convert) -> lines, written out once per record
    type: `rows` are unpacked tuples; text fields go through `cache` (char arrays such as
    comm repeat) and `convert` on a miss (or when the text is empty); then one
    `template % values` per line, in one list comprehension (a loop with append costs
    about a tenth more), or one map() when there is no text field."""
    if not texts:
        return lambda rows, template, cache, convert: list(map(template.__mod__, rows))
    names = ", ".join(f"a{i}" for i in range(count))
    values = ", ".join(f"get(a{i}) or convert(a{i}, cache)" if i in texts else f"a{i}"
                       for i in range(count))
    body = ["def format_batch(rows, template, cache, convert):",
            "    get = cache.get",
            f"    return [template % ({values},) for ({names},) in rows]"]
    env: dict = {}
    exec(compile("\n".join(body) + "\n", "<format_batch>", "exec"), env)  # noqa: S102
    return env["format_batch"]


class _FlatBatches:
    """Formats a RecordBatch of a flat record type (plain integers and char arrays) in one
    pass: struct.iter_unpack over the batch's bytes, headers skipped by the format."""

    def __init__(self, codec, template: str, text_of):
        layout, names, texts = codec.flat_layout()
        self._layout = layout
        self._template = template
        self._function = _batch_function(len(names), texts)
        self._cache: dict = {}
        self._text_of = text_of

    def _convert(self, raw: bytes, cache: dict) -> str:
        if len(cache) >= _TEXT_CACHE_LIMIT:
            cache.clear()
        text = cache[raw] = self._text_of(terminal_safe(
            raw.partition(b"\0")[0].decode("utf-8", "replace")))
        return text

    def rows(self, batch: RecordBatch, template: str | None = None) -> list[str] | None:
        """The lines, or None when the batch's layout does not fit (the caller decodes)."""
        if batch.size < self._layout.size:
            return None
        unpacker = batch.unpacker(self._layout)
        return self._function(unpacker.iter_unpack(batch.blob), template or self._template,
                              self._cache, self._convert)


def _column_width(header: str, c_type: str, size: int) -> int:
    match = _CHAR_ARRAY.match(c_type)
    if match:
        natural = min(int(match.group(1)), 16)
    elif c_type in ("bool", "_Bool"):
        natural = 5
    else:
        natural = _INT_WIDTHS.get(size, 10)
    return max(len(header), natural)


def _cell(value: Any) -> str:
    if isinstance(value, str):
        return terminal_safe(value)
    if hasattr(value, "folded"):        # a resolved stack: root;...;leaf
        return terminal_safe(value.folded)
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), default=str)
    return str(value)


def _chosen_fields(codec, fields: list[str] | None) -> list[tuple]:
    """The codec's (name, c_type, codec) fields, or those `fields` names, in its order."""
    if fields is None:
        return list(codec.fields)
    by_name = {entry[0]: entry for entry in codec.fields}
    unknown = [name for name in fields if name not in by_name]
    if unknown:
        from ..errors import ArgumentError
        raise ArgumentError(f"--fields names no field '{unknown[0]}' (the record's fields: "
                            f"{', '.join(by_name) or 'none'})")
    return [by_name[name] for name in fields]


class TableFormatter:
    """Formats records of one struct type as aligned rows under an upper-case header.
    `formats` ({field: function}, output.formats) shows fields readably; `fields` keeps
    only those, in that order."""

    def __init__(self, codec, time_column: bool = True, formats: dict | None = None,
                 fields: list[str] | None = None):
        self._codec = codec
        self._formats = dict(formats or {})
        chosen = _chosen_fields(codec, fields)
        self._names = [name for name, _, _ in chosen]
        headers = [terminal_safe(name.upper()) for name in self._names]
        widths = [max(len(h), 16) if name in self._formats else
                  _column_width(h, c_type, field.size)
                  for h, (name, c_type, field) in zip(headers, chosen)]
        if time_column:
            headers.insert(0, "TIME")
            widths.insert(0, _TIME_WIDTH)
        self._time_column = time_column
        self._widths = widths
        self.header = self._join(headers)
        self._prepare_batches()

    def _join(self, cells: list[str]) -> str:
        padded = [cell.ljust(width) for cell, width in zip(cells[:-1], self._widths)]
        return " ".join(padded + cells[-1:])

    def rows(self, raws, when: float | None = None) -> list[str]:
        if isinstance(raws, RecordBatch) and self._batches is not None:
            stamp = time.strftime("%H:%M:%S", time.localtime(when)).replace("%", "%%")
            template = (stamp.ljust(_TIME_WIDTH) + " " if self._time_column else "") + \
                self._batch_template
            lines = self._batches.rows(raws, template)
            if lines is not None:
                return lines
        decode = self._codec.decode
        return [self.row(decode(raw), when) for raw in raws]

    def _prepare_batches(self) -> None:
        """A %-template of the columns (as `_join` pads them) for flat record types."""
        self._batches = None
        if self._formats or getattr(self._codec, "flat_layout", lambda: None)() is None:
            return
        names = self._codec.flat_layout()[1]
        if names != self._names:
            return
        widths = self._widths[1:] if self._time_column else self._widths
        # %s, not %d, for the integers too: the same text for a plain int (flat layouts
        # hold no bools), made in half the time (int.__str__ straight away)
        cells = [f"%-{w}s" for w in widths[:-1]]
        cells.append("%s")
        self._batch_template = " ".join(cells)
        self._batches = _FlatBatches(self._codec, self._batch_template, str)

    def row(self, record, when: float | None = None) -> str:
        """One line for `record`; `when` is a Unix time (now when omitted)."""
        values = readable(self._codec.to_json(record), self._formats)
        cells = [_cell(values[name]) for name in self._names]
        if self._time_column:
            cells.insert(0, time.strftime("%H:%M:%S", time.localtime(when)))
        return self._join(cells)


class JsonFormatter:
    """Formats records as one compact JSON object per line, keyed by field name.

    For flat records (plain integers and char arrays) `rows()` formats straight from the
    raw bytes with one prepared template: no Record, no json.dumps of the whole object.
    """

    def __init__(self, codec, formats: dict | None = None, fields: list[str] | None = None):
        self._codec = codec
        self._formats = dict(formats or {})
        self._fields = None if fields is None else [
            name for name, _, _ in _chosen_fields(codec, fields)]
        layout = getattr(codec, "flat_layout", lambda: None)()
        if self._formats or self._fields is not None:
            layout = None           # shaped per record: no one-pass template
        self._template = None
        if layout is not None:
            self._unpack, names, self._texts = layout[0].unpack_from, layout[1], layout[2]
            # %s for integers too (plain ints only: the same text, twice as fast as %d)
            self._template = "{" + ",".join(
                f"{json.dumps(name)}:%s" for name in names) + "}"
        self._batches = None if self._template is None else _FlatBatches(
            codec, self._template, lambda text: json.dumps(text, ensure_ascii=False))

    def rows(self, raws, when: float | None = None) -> list[str]:
        """One line per raw record."""
        if isinstance(raws, RecordBatch) and self._batches is not None:
            lines = self._batches.rows(raws)
            if lines is not None:
                return lines
        if self._template is None:
            decode = self._codec.decode
            return [self.row(decode(raw), when) for raw in raws]
        template, unpack, texts, dumps = self._template, self._unpack, self._texts, json.dumps
        lines = []
        for raw in raws:
            try:
                values = list(unpack(raw))
            except struct.error:        # a short record: the codec says what is wrong
                self._codec.decode(raw)
                raise
            for i in texts:
                data = values[i]
                end = data.find(b"\0")
                values[i] = dumps((data if end < 0 else data[:end]).decode("utf-8", "replace"),
                                  ensure_ascii=False)
            lines.append(template % tuple(values))
        return lines

    def row(self, record, when: float | None = None) -> str:
        values = readable(self._codec.to_json(record), self._formats)
        if self._fields is not None:
            values = {name: values[name] for name in self._fields}
        return json.dumps(values, separators=(",", ":"), ensure_ascii=False, default=str)


class _ValuesFormatter:
    """Records as readable values (formats applied, fields chosen) with a TIME first, for
    the line formats that are not hot paths: CSV and YAML."""

    def __init__(self, codec, formats: dict | None = None, fields: list[str] | None = None):
        self._codec = codec
        self._formats = dict(formats or {})
        self._names = [name for name, _, _ in _chosen_fields(codec, fields)]

    def values(self, raws, when: float | None) -> list[dict]:
        stamp = time.strftime("%H:%M:%S", time.localtime(when))
        decode, result = self._codec.decode, []
        for raw in raws:
            shown = readable(self._codec.to_json(decode(raw)), self._formats)
            result.append({"time": stamp, **{name: shown[name] for name in self._names}})
        return result


class CsvFormatter(_ValuesFormatter):
    """Comma-separated values under a header of field names (RFC 4180 quoting)."""

    @property
    def header(self) -> str:
        return self._line(["time", *map(terminal_safe, self._names)])

    @staticmethod
    def _line(cells) -> str:
        import csv
        import io
        out = io.StringIO()
        csv.writer(out, lineterminator="").writerow(
            [_cell(cell) for cell in cells])
        return out.getvalue()

    def rows(self, raws, when: float | None = None) -> list[str]:
        return [self._line(list(values.values())) for values in self.values(raws, when)]


class YamlFormatter(_ValuesFormatter):
    """One YAML document per record (`---` first)."""

    header = ""

    def rows(self, raws, when: float | None = None) -> list[str]:
        import yaml
        return [yaml.safe_dump(values, explicit_start=True, sort_keys=False,
                               allow_unicode=True).rstrip("\n")
                for values in self.values(raws, when)]


class FoldedFormatter(_ValuesFormatter):
    """`--stacks folded`: one collapsed stack per record, `comm;root;...;leaf 1`, for
    flame graphs (flamegraph.pl adds up equal stacks). User frames come before kernel
    frames, as the call went."""

    header = ""

    def __init__(self, codec, formats: dict | None = None, fields: list[str] | None = None):
        super().__init__(codec, formats, None)
        self._stacks = [name for name, show in self._formats.items()
                        if getattr(show, "wants_record", False)]
        self._stacks.sort(key=lambda name: name.startswith("k"))     # user, then kernel

    @property
    def has_stacks(self) -> bool:
        return bool(self._stacks)

    def rows(self, raws, when: float | None = None) -> list[str]:
        if not self._stacks:
            return []               # records of this map carry no stack
        lines = []
        for values in self.values(raws, when):
            # folded lines reach terminals too: a process names itself, a hostile ELF
            # names its symbols
            parts = [terminal_safe(str(values["comm"]))] if "comm" in values else []
            for name in self._stacks:
                stack = values.get(name)
                if hasattr(stack, "folded") and stack:
                    parts.append(terminal_safe(stack.folded))
            lines.append(";".join(parts) + " 1")
        return lines
