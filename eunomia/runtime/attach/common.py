"""Pieces every attach strategy shares: wrapping a bpf_link, and turning errno into an error."""

from __future__ import annotations

from ... import _libbpf
from .. import failures
from ..link import Link


def libbpf_link(program_name: str, handle: int) -> Link:
    """A Link owning a `struct bpf_link *` (bpf_link__destroy undoes it)."""
    bpf = _libbpf.lib.bpf
    return Link(program_name, lambda: bpf.bpf_link__destroy(handle), fd=bpf.bpf_link__fd(handle))


def checked_link(program, handle: int, section: str | None = None) -> Link:
    """The Link for a libbpf attach result, or the error its errno means (NULL)."""
    if not handle:
        raise failure(program, _libbpf.errno_now(), section)
    return libbpf_link(program.name, handle)


def failure(program, err: int, section: str | None = None):
    return failures.attach_failure(err, program.name, section or program.section_name)
