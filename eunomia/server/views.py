"""What the dashboard (and scripts) read of a task besides its log: its programs and event
fields, the latest reading of each sampled map, and its maps' entries — as JSON."""

from __future__ import annotations

import time
from typing import Any

from ..errors import EunomiaError
from ..maps.base import HashMap
from ..maps.special import StackTraceMap

MAP_ROWS = 200              # entries shown per map (the count says how many there are)
MAP_COUNT_LIMIT = 10_000    # keys counted at most (a huge hash map is not walked whole)
SAMPLE_ROWS = 200
_DATA_SECTIONS = (".rodata", ".bss", ".data", ".kconfig")


def event_fields(sources) -> dict[str, list[str]]:
    """{event map: the export struct's field names}: the live table's columns."""
    return {source.map_name: [name for name, *_ in getattr(source.codec, "fields", ())]
            for source in sources}


def sample_view(sampler, entries, now: float) -> dict:
    """One reading of a sampled map: histograms with their buckets, or key/value rows."""
    view: dict[str, Any] = {"map": sampler.name, "time": now}
    if sampler.spec.kind.is_histogram:
        view["kind"] = "histograms"
        view["histograms"] = [{"key": sampler.key_codec.to_json(key), **hist.to_dict()}
                              for key, hist in sampler.histograms(entries)]
        return view
    view["kind"] = "entries"
    view["count"] = len(entries)
    view["entries"] = [{"key": sampler.key_codec.to_json(key),
                        "value": sampler.value_codec.to_json(value)}
                       for key, value in entries[:SAMPLE_ROWS]]
    return view


def _shown_maps(maps: dict) -> dict:
    """The maps a person reads as tables: hash and array maps, not data sections, stack
    traces or event streams."""
    return {name: m for name, m in maps.items()
            if isinstance(m, HashMap) and not isinstance(m, StackTraceMap)
            and not name.endswith(_DATA_SECTIONS) and not name.startswith(".")}


def map_names(maps: dict) -> list[str]:
    return sorted(_shown_maps(maps))


def map_view(name: str, typed, limit: int = MAP_ROWS) -> dict:
    """Up to `limit` entries of one map, decoded; `count` is how many were read. Read with
    batch lookups, as `items()` and the exporter's scrapes are, up to MAP_COUNT_LIMIT."""
    per_cpu = "percpu" in typed.type_name
    try:
        entries = typed.items(limit=MAP_COUNT_LIMIT + 1)
        rows = []
        for key, value in entries[:limit]:
            shown = [typed.value_codec.to_json(v) for v in value] if per_cpu \
                else typed.value_codec.to_json(value)
            rows.append({"key": typed.key_codec.to_json(key), "value": shown})
    except EunomiaError as exc:
        return {"name": name, "type": typed.type_name, "error": str(exc), "entries": []}
    return {"name": name, "type": typed.type_name, "max_entries": typed.max_entries,
            "count": min(len(entries), MAP_COUNT_LIMIT),
            "more": len(entries) > MAP_COUNT_LIMIT, "entries": rows, "read_at": time.time()}


def maps_view(maps: dict, limit: int = MAP_ROWS) -> list[dict]:
    return [map_view(name, typed, limit) for name, typed in sorted(_shown_maps(maps).items())]
