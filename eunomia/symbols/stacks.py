"""A stack (a list of return addresses, innermost first) as resolved frames."""

from __future__ import annotations

import functools
from typing import NamedTuple

from .kernel import KernelSymbols
from .symbol import Symbol
from .user import UserSymbols

# x86_64 and arm64 kernels live in the top half of the address space
KERNEL_START = 0xffff800000000000


def is_kernel_address(address: int) -> bool:
    return address >= KERNEL_START


@functools.lru_cache(maxsize=1)
def _kernel_symbols() -> KernelSymbols:
    return KernelSymbols()


class Frame(NamedTuple):
    address: int
    symbol: Symbol | None
    kernel: bool

    def __str__(self) -> str:
        if self.symbol is None:
            return f"0x{self.address:x}"
        if self.symbol.name == "[unknown]":
            return f"[unknown] [{self.symbol.module}]"
        return self.symbol.format()


def frames(addresses, pid: int | None = None, kernel: KernelSymbols | None = None,
           user: UserSymbols | None = None) -> list[Frame]:
    """Resolves each address: kernel ones with `kernel` (kallsyms, read once per process
    by default), user ones in process `pid` (or with `user`). Without a pid, user
    addresses stay unresolved."""
    frames_out = []
    for address in addresses:
        if is_kernel_address(address):
            table = kernel or _kernel_symbols()
            frames_out.append(Frame(address, table.resolve(address), True))
            continue
        if user is None and pid is not None:
            user = UserSymbols(pid)
        frames_out.append(Frame(address, user.resolve(address) if user else None, False))
    return frames_out
