"""Event records as text: an aligned table (TIME, then one column per field) or JSON lines.

Column widths come from the record's C types, not from the values seen, because rows are
printed as they arrive: a pid column is as wide as a pid can reasonably be, a char[16]
as its string. A value wider than its column pushes the rest of the row right, as BCC's
tools do; the last column is never padded.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

# Typical printed width of an integer, by its size in bytes.
_INT_WIDTHS = {1: 4, 2: 6, 4: 7, 8: 12, 16: 20}
_CHAR_ARRAY = re.compile(r"^(?:unsigned |signed )?char\[(\d+)\]$")
_TIME_WIDTH = 8


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
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), default=str)
    return str(value)


class TableFormatter:
    """Formats records of one struct type as aligned rows under an upper-case header."""

    def __init__(self, codec, time_column: bool = True):
        self._codec = codec
        self._names = [name for name, _, _ in codec.fields]
        headers = [name.upper() for name in self._names]
        widths = [_column_width(h, c_type, field.size)
                  for h, (_, c_type, field) in zip(headers, codec.fields)]
        if time_column:
            headers.insert(0, "TIME")
            widths.insert(0, _TIME_WIDTH)
        self._time_column = time_column
        self._widths = widths
        self.header = self._join(headers)

    def _join(self, cells: list[str]) -> str:
        padded = [cell.ljust(width) for cell, width in zip(cells[:-1], self._widths)]
        return " ".join(padded + cells[-1:])

    def rows(self, raws, when: float | None = None) -> list[str]:
        decode = self._codec.decode
        return [self.row(decode(raw), when) for raw in raws]

    def row(self, record, when: float | None = None) -> str:
        """One line for `record`; `when` is a Unix time (now when omitted)."""
        values = self._codec.to_json(record)
        cells = [_cell(values[name]) for name in self._names]
        if self._time_column:
            cells.insert(0, time.strftime("%H:%M:%S", time.localtime(when)))
        return self._join(cells)


class JsonFormatter:
    """Formats records as one compact JSON object per line, keyed by field name.

    For flat records (plain integers and char arrays) `rows()` formats straight from the
    raw bytes with one prepared template: no Record, no json.dumps of the whole object.
    """

    def __init__(self, codec):
        self._codec = codec
        layout = getattr(codec, "flat_layout", lambda: None)()
        self._template = None
        if layout is not None:
            self._unpack, names, self._texts = layout[0].unpack_from, layout[1], layout[2]
            self._template = "{" + ",".join(
                f"{json.dumps(name)}:{'%s' if i in self._texts else '%d'}"
                for i, name in enumerate(names)) + "}"

    def rows(self, raws, when: float | None = None) -> list[str]:
        """One line per raw record."""
        if self._template is None:
            decode = self._codec.decode
            return [self.row(decode(raw), when) for raw in raws]
        template, unpack, texts, dumps = self._template, self._unpack, self._texts, json.dumps
        lines = []
        for raw in raws:
            values = list(unpack(raw))
            for i in texts:
                data = values[i]
                end = data.find(b"\0")
                values[i] = dumps((data if end < 0 else data[:end]).decode("utf-8", "replace"),
                                  ensure_ascii=False)
            lines.append(template % tuple(values))
        return lines

    def row(self, record, when: float | None = None) -> str:
        return json.dumps(self._codec.to_json(record), separators=(",", ":"),
                          ensure_ascii=False)
