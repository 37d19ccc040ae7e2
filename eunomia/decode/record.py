"""Record: a decoded struct that reads as a mapping and by attribute (`ev["pid"]`, `ev.pid`)."""

from __future__ import annotations

import gc


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
        items = ", ".join(
            f"{name!r}: " + (f"{v}.partition(NUL)[0].decode('utf-8', 'replace')"
                             if i in texts else v)
            for i, (name, v) in enumerate(zip(names, values)))
        source = (f"def build(rows):\n"
                  f"    return [Record({{{items}}}) for ({', '.join(values)},) in rows]\n")
        env = {"Record": Record, "NUL": b"\0"}
        exec(compile(source, "<build records>", "exec"), env)  # noqa: S102
        builder = _ROW_BUILDERS[key] = _without_collection(env["build"])
    return builder


def _without_collection(build):
    """`build` with the cyclic garbage collector paused while it runs. A batch makes
    thousands of dicts that can hold no cycles, and meanwhile the collector would walk
    the young objects every 700 allocations and the older ones in turn: in a process
    holding many objects (a server, the bench) that was half the time of a 10,000-entry
    items()."""
    def paused(rows):
        if not gc.isenabled():
            return build(rows)
        gc.disable()
        try:
            return build(rows)
        finally:
            gc.enable()
    return paused
