"""Symbol: what an address resolves to."""

from __future__ import annotations

from typing import NamedTuple


class Symbol(NamedTuple):
    name: str
    offset: int
    module: str | None = None     # kernel module or user-space file (basename)

    def format(self) -> str:
        """BCC's style: `name+0x1f`, with ` [module]` when there is one."""
        text = f"{self.name}+0x{self.offset:x}"
        return f"{text} [{self.module}]" if self.module else text
