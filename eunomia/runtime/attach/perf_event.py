"""A perf_event program on a software CPU-clock event per online CPU; one Link owns all."""

from __future__ import annotations

import os

from ... import _libbpf
from ...errors import AttachError
from ..cpus import online_cpus
from ..link import Link
from ..perf_events import cpu_clock_attr
from .common import failure, libbpf_link


def perf_event(program, sample_freq: int = 49, cpus: list[int] | None = None) -> Link:
    links: list[Link] = []
    try:
        for cpu in cpus if cpus is not None else online_cpus():
            try:
                fd = _libbpf.perf_event_open(cpu_clock_attr(sample_freq), -1, cpu)
            except OSError as exc:
                raise AttachError(f"cannot open a perf event on CPU {cpu} for program "
                                  f"'{program.name}'", errno=exc.errno,
                                  program=program.name) from None
            handle = _libbpf.lib.bpf.bpf_program__attach_perf_event(program.handle, fd)
            if not handle:
                error = failure(program, _libbpf.errno_now())
                os.close(fd)
                raise error
            links.append(libbpf_link(program.name, handle))  # it closes the event's fd
    except BaseException:
        _undo_all(links)
        raise
    return Link(program.name, lambda: _undo_all(links))


def _undo_all(links: list[Link]) -> None:
    for link in links:
        link.detach()
