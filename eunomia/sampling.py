"""Sampled maps: read a map every interval (histograms, key/value tables), then clear it.

The package's `sample` meta says how: `{"interval": ms, "type": "log2_hist" |
"linear_hist" | "default_kv", "unit": "usecs", "clear_map": false}`; linear histograms
may also give `base` and `step`.
"""

from __future__ import annotations

from typing import Any

from .kinds import SAMPLE_TYPES, SampleType
from .output.histogram import Histogram, key_label, map_histograms
from .valueclass import valueclass

__all__ = ["SAMPLE_TYPES", "MapSampler", "SampleSpec", "key_label"]



@valueclass
class SampleSpec:
    interval: float      # seconds
    kind: SampleType
    unit: str = ""
    clear_map: bool = False
    base: int = 0
    step: int = 1

    @classmethod
    def from_meta(cls, sample) -> SampleSpec:
        extra = getattr(sample, "extra", {}) or {}
        return cls(interval=max(float(sample.interval or 1000), 1.0) / 1000.0,
                   kind=SampleType(sample.type or "default_kv"), unit=sample.unit or "",
                   clear_map=bool(sample.clear_map),
                   base=int(extra.get("base", 0)), step=int(extra.get("step", 1)) or 1)


class MapSampler:
    """Reads one typed map (eunomia.maps) every interval, and turns it into histograms."""

    def __init__(self, typed, spec: SampleSpec):
        self.map = typed
        self.spec = spec
        self.key_codec = typed.key_codec
        self.value_codec = typed.value_codec

    @property
    def name(self) -> str:
        return self.map.name

    def read(self) -> list[tuple[Any, Any]]:
        """Every entry, decoded, in key order; cleared afterwards (arrays zeroed) if the
        package asks for it."""
        entries = self.map.pop_items() if self.spec.clear_map else self.map.items()
        entries.sort(key=lambda kv: repr(kv[0]))
        return entries

    def histograms(self, entries) -> list[tuple[Any, Histogram]]:
        """A histogram per key that has any count, for log2/linear samples."""
        kind = "linear" if self.spec.kind is SampleType.LINEAR_HIST else "log2"
        return map_histograms(entries, kind, self.spec.unit, self.spec.base, self.spec.step)
