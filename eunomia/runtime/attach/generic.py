"""Attach by section name: tp/, raw_tp/, tp_btf/, uprobe/BIN:FUNC, kprobe/, ... (libbpf)."""

from __future__ import annotations

from ... import _libbpf
from ..link import Link
from .common import checked_link


def by_section(program) -> Link:
    return checked_link(program, _libbpf.lib.bpf.bpf_program__attach(program.handle))
