"""Record: a decoded struct that reads as a mapping and by attribute (`ev["pid"]`, `ev.pid`)."""

from __future__ import annotations


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
