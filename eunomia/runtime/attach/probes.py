"""Targets chosen at run time rather than in the section name: a tracepoint by category
and name, a kprobe on a kernel function."""

from __future__ import annotations

from ... import _libbpf
from ..link import Link
from .common import checked_link


def tracepoint(program, category: str, name: str) -> Link:
    handle = _libbpf.lib.bpf.bpf_program__attach_tracepoint(
        program.handle, category.encode(), name.encode())
    return checked_link(program, handle, f"tp/{category}/{name}")


def kprobe(program, function: str, retprobe: bool = False) -> Link:
    handle = _libbpf.lib.bpf.bpf_program__attach_kprobe(
        program.handle, retprobe, function.encode())
    return checked_link(program, handle, f"{'kretprobe' if retprobe else 'kprobe'}/{function}")
