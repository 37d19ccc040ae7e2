"""Kernel addresses to `symbol+offset`, from /proc/kallsyms."""

from __future__ import annotations

import bisect

from ..errors import SymbolError
from .symbol import Symbol

KALLSYMS = "/proc/kallsyms"


class KernelSymbols:
    """Every kernel and module function symbol, sorted by address (read once).

        ksyms = KernelSymbols()
        ksyms.format(0xffffffff81234567)   # 'do_sys_openat2+0x57'
    """

    def __init__(self, path: str = KALLSYMS):
        addresses, names, modules = [], [], []
        try:
            with open(path) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) < 3 or parts[1] not in "tTwW":
                        continue            # functions only: t/T text, w/W weak
                    addresses.append(int(parts[0], 16))
                    names.append(parts[2])
                    modules.append(parts[3].strip("[]") if len(parts) > 3 else None)
        except OSError as exc:
            raise SymbolError(f"cannot read {path}: {exc.strerror}") from None
        if not addresses or not any(addresses):
            raise SymbolError(
                f"{path} shows no addresses: run as root (or lower "
                "/proc/sys/kernel/kptr_restrict)")
        order = sorted(range(len(addresses)), key=addresses.__getitem__)
        self._addresses = [addresses[i] for i in order]
        self._names = [names[i] for i in order]
        self._modules = [modules[i] for i in order]
        self._by_name = None

    def resolve(self, address: int) -> Symbol | None:
        """The function holding `address`, or None below the first symbol."""
        i = bisect.bisect_right(self._addresses, address) - 1
        if i < 0:
            return None
        return Symbol(self._names[i], address - self._addresses[i], self._modules[i])

    def format(self, address: int) -> str:
        """`name+0x1f` (`name+0x1f [module]` in a module), or the address in hex."""
        symbol = self.resolve(address)
        return symbol.format() if symbol else f"0x{address:x}"

    def address_of(self, name: str) -> int | None:
        """The address of function `name`, or None."""
        if self._by_name is None:
            self._by_name = {}
            for address, symbol in zip(self._addresses, self._names):
                self._by_name.setdefault(symbol, address)
        return self._by_name.get(name)

    def __len__(self) -> int:
        return len(self._addresses)
