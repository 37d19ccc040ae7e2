"""Sampled maps: read a map every interval (histograms, key/value tables), then clear it.

The package's `sample` meta says how: `{"interval": ms, "type": "log2_hist" |
"linear_hist" | "default_kv", "unit": "usecs", "clear_map": false}`; linear histograms
may also give `base` and `step`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .decode import compile_codec
from .output.histogram import Histogram, linear_histogram, log2_histogram

SAMPLE_TYPES = ("log2_hist", "linear_hist", "default_kv")


@dataclass
class SampleSpec:
    interval: float      # seconds
    kind: str            # one of SAMPLE_TYPES
    unit: str = ""
    clear_map: bool = False
    base: int = 0
    step: int = 1

    @classmethod
    def from_meta(cls, sample) -> SampleSpec:
        extra = getattr(sample, "extra", {}) or {}
        return cls(interval=max(float(sample.interval or 1000), 1.0) / 1000.0,
                   kind=sample.type or "default_kv", unit=sample.unit or "",
                   clear_map=bool(sample.clear_map),
                   base=int(extra.get("base", 0)), step=int(extra.get("step", 1)) or 1)


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


class MapSampler:
    """Reads one map as decoded (key, value) pairs, and turns them into histograms."""

    def __init__(self, bpf_map, btf, spec: SampleSpec):
        self.map = bpf_map
        self.spec = spec
        self.key_codec = compile_codec(btf, bpf_map.btf_key_type_id)
        self.value_codec = compile_codec(btf, bpf_map.btf_value_type_id)

    @property
    def name(self) -> str:
        return self.map.name

    def read(self) -> list[tuple[Any, Any]]:
        """Every entry, decoded, in key order; clears the map afterwards if asked."""
        entries, raw_keys = [], []
        for key_bytes, value_bytes in self.map.items():
            raw_keys.append(key_bytes)
            entries.append((self.key_codec.decode(key_bytes),
                            self.value_codec.decode(value_bytes)))
        if self.spec.clear_map:
            self._clear(raw_keys)
        entries.sort(key=lambda kv: repr(kv[0]))
        return entries

    def _clear(self, raw_keys) -> None:
        # Array entries cannot be deleted: zero them instead.
        if "array" in self.map.type_name:
            zeros = bytes(self.map.value_size)
            for key in raw_keys:
                self.map.update(key, zeros)
        else:
            for key in raw_keys:
                self.map.delete(key)

    def histograms(self, entries) -> list[tuple[Any, Histogram]]:
        """A histogram per key that has any count, for log2/linear samples."""
        result = []
        for key, value in entries:
            slots = slots_of(value)
            if slots is None or not any(slots):
                continue
            if self.spec.kind == "linear_hist":
                hist = linear_histogram(slots, self.spec.base, self.spec.step, self.spec.unit)
            else:
                hist = log2_histogram(slots, self.spec.unit)
            result.append((key, hist))
        return result


def key_label(key) -> str:
    """A section header for one key: `pid = 42, comm = bash` for a struct key."""
    if isinstance(key, dict):    # a Record is a dict
        return ", ".join(f"{k} = {v}" for k, v in key.items())
    return f"key = {key}"
