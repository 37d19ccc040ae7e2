"""Link: an attachment that can be undone (idempotently)."""

from __future__ import annotations

from typing import Callable


class Link:
    """Owns one attachment; `detach()` undoes it once, later calls do nothing."""

    def __init__(self, program_name: str, undo: Callable[[], None], fd: int = -1):
        self.program_name = program_name
        self.fd = fd
        self._undo: Callable[[], None] | None = undo

    @property
    def attached(self) -> bool:
        return self._undo is not None

    def detach(self) -> None:
        undo, self._undo = self._undo, None
        if undo is not None:
            undo()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.detach()

    def __repr__(self) -> str:
        state = "attached" if self.attached else "detached"
        return f"<Link {self.program_name} {state}>"
