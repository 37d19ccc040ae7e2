"""Addresses to names: kernel ones from /proc/kallsyms, user ones from the ELF symbol
tables of a process's mappings, and whole stacks.

    from eunomia.symbols import KernelSymbols, UserSymbols, frames
    KernelSymbols().format(addr)              # 'vfs_read+0x5'
    UserSymbols(pid).format(addr)             # 'main+0x1c [myprog]'
    for frame in frames(prog.maps["stacks"].walk(stack_id), pid=pid):
        print(frame)
"""

from __future__ import annotations

from .kernel import KernelSymbols
from .stacks import Frame, frames, is_kernel_address
from .symbol import Symbol
from .user import UserSymbols

__all__ = ["Frame", "KernelSymbols", "Symbol", "UserSymbols", "frames", "is_kernel_address"]
