"""Record: a decoded struct that reads as a mapping and by attribute (`ev["pid"]`, `ev.pid`)."""

from __future__ import annotations

import contextlib
import gc
import keyword


class Record(dict):
    """A dict whose keys are also attributes; missing names raise AttributeError."""

    __slots__ = ()

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"record has no field '{name}'") from None

    def __setattr__(self, name: str, value) -> None:
        self[name] = value

    def __reduce__(self):
        return (Record, (dict(self),))


_ROW_BUILDERS: dict = {}


def row_builder(names, texts):
    """build(rows) -> [Record, ...] for unpacked tuples of a flat struct (plain integers
    and char arrays, `texts` their positions; RecordCodec.flat_layout()), written out
    once per layout: a dict display per row is about twice as fast as decoding each
    record on its own."""
    key = (tuple(names), tuple(texts))
    builder = _ROW_BUILDERS.get(key)
    if builder is None:
        values = [f"a{i}" for i in range(len(names))]
        # char arrays: up to the first NUL, decoded in line (a call each costs more)
        shown = [f"{v}.partition(NUL)[0].decode('utf-8', 'replace')" if i in texts else v
                 for i, v in enumerate(values)]
        if all(name.isidentifier() and not keyword.iskeyword(name) for name in names):
            # keywords: a tenth faster than a dict display copied into the Record
            made = "Record(" + ", ".join(f"{n}={v}" for n, v in zip(names, shown)) + ")"
        else:
            made = "Record({" + ", ".join(f"{n!r}: {v}" for n, v in zip(names, shown)) + "})"
        source = (f"def build(rows):\n"
                  f"    return [{made} for ({', '.join(values)},) in rows]\n")
        env = {"Record": Record, "NUL": b"\0"}
        exec(compile(source, "<build records>", "exec"), env)  # noqa: S102
        builder = _ROW_BUILDERS[key] = _without_collection(env["build"])
    return builder


@contextlib.contextmanager
def collection_paused():
    """The cyclic garbage collector paused meanwhile. Building thousands of records (dicts
    and tuples that can hold no cycles) would otherwise run it every 700 allocations,
    walking the young objects and, in turn, every object the process holds: in a
    process holding many (a server, the bench) that was half the time of a
    10,000-entry items()."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _without_collection(build):
    """`build` run with the collector paused."""
    def paused(rows):
        with collection_paused():
            return build(rows)
    return paused
