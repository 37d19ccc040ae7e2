"""XDP on a network interface (libbpf picks native or generic mode)."""

from __future__ import annotations

from ... import _libbpf
from ..link import Link
from .common import checked_link
from .interfaces import ifindex


def xdp(program, interface: int | str = "lo") -> Link:
    handle = _libbpf.lib.bpf.bpf_program__attach_xdp(program.handle, ifindex(interface))
    return checked_link(program, handle)
