"""Log2 and linear histograms: the numbers as plain objects, and BCC's classic drawing.

Slot conventions follow libbpf-tools (which eunomia-bpf copies): log2 slot i counts values
in [2**i, 2**(i+1) - 1], slot 0 also counts 0; linear slot i counts `base + i * step`.
Rendering is kept apart from the data so programs can ask for numbers, not drawings.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..valueclass import valueclass

STARS_MAX = 40


@valueclass(frozen=True)
class Bucket:
    low: int
    high: int
    count: int


@valueclass(frozen=True)
class Histogram:
    """Counts per bucket; `kind` is "log2" or "linear"."""

    kind: str
    buckets: tuple[Bucket, ...]
    unit: str = ""

    @property
    def total(self) -> int:
        return sum(b.count for b in self.buckets)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "unit": self.unit, "total": self.total,
                "buckets": [{"low": b.low, "high": b.high, "count": b.count}
                            for b in self.buckets]}

    def render(self) -> str:
        """BCC's classic drawing; an empty histogram renders as ""."""
        if self.kind == "log2":
            return _render_log2(self)
        return _render_linear(self)


def log2_histogram(slots: Sequence[int], unit: str = "") -> Histogram:
    """A histogram from a `slots` array filled with slot = floor(log2(value))."""
    buckets = []
    for i, count in enumerate(slots):
        low, high = (1 << (i + 1)) >> 1, (1 << (i + 1)) - 1
        if low == high:
            low -= 1
        buckets.append(Bucket(low, high, int(count)))
    return Histogram("log2", tuple(buckets), unit)


def linear_histogram(slots: Sequence[int], base: int = 0, step: int = 1,
                     unit: str = "") -> Histogram:
    """A histogram from a `slots` array filled with slot = (value - base) / step."""
    buckets = tuple(Bucket(base + i * step, base + (i + 1) * step - 1, int(count))
                    for i, count in enumerate(slots))
    return Histogram("linear", buckets, unit)


def _stars(count: int, count_max: int, width: int) -> str:
    stars = min(count, count_max) * width // count_max if count_max else 0
    text = "*" * stars
    if count > count_max:
        text = text[:-1] + "+"
    return text.ljust(width)


def _render_log2(hist: Histogram) -> str:
    counts = [b.count for b in hist.buckets]
    used = [i for i, c in enumerate(counts) if c > 0]
    if not used:
        return ""
    idx_max, count_max = used[-1], max(counts)
    wide = idx_max > 32
    width, stars = (20, STARS_MAX // 2) if wide else (10, STARS_MAX)
    pad, label_width = (15, 29) if wide else (5, 19)
    lines = [f"{'':{pad}}{hist.unit or 'value':<{label_width}} : count    distribution"]
    for b in hist.buckets[:idx_max + 1]:
        lines.append(f"{b.low:>{width}} -> {b.high:<{width}} : {b.count:<8} "
                     f"|{_stars(b.count, count_max, stars)}|")
    return "\n".join(lines)


def _render_linear(hist: Histogram) -> str:
    counts = [b.count for b in hist.buckets]
    if not any(counts):
        return ""
    count_max = max(counts)
    lines = [f"     {hist.unit or 'value':<13} : count     distribution"]
    for b in hist.buckets:
        if b.count:
            lines.append(f"        {b.low:<10} : {b.count:<8} "
                         f"|{_stars(b.count, count_max, STARS_MAX)}|")
    return "\n".join(lines)


def slots_of(value) -> list[int] | None:
    """The histogram counts inside a map value: its `slots` member, or the value itself."""
    if isinstance(value, dict):
        slots = value.get("slots")
        if slots is None and len(value) == 1:
            slots = next(iter(value.values()))
        value = slots
    if isinstance(value, list) and all(isinstance(v, int) for v in value):
        return value
    return None


def map_histograms(entries: Iterable[tuple[Any, Any]], kind: str = "log2", unit: str = "",
                   base: int = 0, step: int = 1) -> list[tuple[Any, Histogram]]:
    """A histogram per (key, value) of a map whose values hold slots (a `slots` array
    member, or an array value), skipping empty ones: `map_histograms(m.items())`.
    `kind` is "log2" or "linear" (then `base` and `step` place the slots)."""
    if kind not in ("log2", "linear"):
        raise ValueError(f"histogram kind is 'log2' or 'linear', not {kind!r}")
    result = []
    for key, value in entries:
        slots = slots_of(value)
        if slots is None or not any(slots):
            continue
        hist = (linear_histogram(slots, base, step, unit) if kind == "linear"
                else log2_histogram(slots, unit))
        result.append((key, hist))
    return result


def key_label(key) -> str:
    """A section header for one key: `pid = 42, comm = bash` for a struct key."""
    if isinstance(key, dict):    # a Record is a dict
        return ", ".join(f"{k} = {v}" for k, v in key.items())
    return f"key = {key}"


def render_sections(histograms: Sequence[tuple[Any, Histogram]]) -> str:
    """Several histograms the way BCC prints a keyed map: each under its section header
    (always for a struct key), a blank line between them."""
    parts = []
    for key, hist in histograms:
        if len(histograms) > 1 or isinstance(key, dict):
            parts.append(f"{key_label(key)}\n{hist.render()}")
        else:
            parts.append(hist.render())
    return "\n\n".join(parts)
