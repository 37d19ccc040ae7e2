"""uprobe / uretprobe on a function of a binary or library, by path or by name."""

from __future__ import annotations

from ... import _libbpf
from ...errors import AttachError
from ..binaries import resolve_binary
from ..link import Link
from .common import checked_link


def uprobe(program, binary: str, symbol: str | None = None, offset: int = 0,
           pid: int = -1, retprobe: bool = False) -> Link:
    section = f"{'uretprobe' if retprobe else 'uprobe'}/{binary}:{symbol or offset}"
    path = resolve_binary(binary)
    if path is None:
        raise AttachError(f"cannot attach program '{program.name}' ({section}): binary "
                          f"'{binary}' not found (not a path, not on $PATH, not a library "
                          "known to ldconfig)", program=program.name)
    opts = _libbpf.uprobe_opts(symbol, retprobe)
    handle = _libbpf.lib.bpf.bpf_program__attach_uprobe_opts(
        program.handle, pid, path.encode(), offset, _libbpf.byref(opts))
    return checked_link(program, handle, section.replace(binary, path, 1))
