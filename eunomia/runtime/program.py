"""BpfProgram: one program of an object, and every way to attach it."""

from __future__ import annotations

import os

from .. import _libbpf
from ..errors import AttachError
from . import failures
from .cpus import online_cpus
from .link import Link
from .perf_events import cpu_clock_attr


class BpfProgram:
    def __init__(self, handle: int):
        bpf = _libbpf.lib.bpf
        self._handle = handle
        self.name = bpf.bpf_program__name(handle).decode()
        self.section_name = (bpf.bpf_program__section_name(handle) or b"").decode()

    @property
    def autoload(self) -> bool:
        return bool(_libbpf.lib.bpf.bpf_program__autoload(self._handle))

    @autoload.setter
    def autoload(self, enabled: bool) -> None:
        _libbpf.check_int(_libbpf.lib.bpf.bpf_program__set_autoload(self._handle, enabled),
                          f"set autoload of program '{self.name}'")

    @property
    def fd(self) -> int:
        return _libbpf.lib.bpf.bpf_program__fd(self._handle)

    def _link(self, handle) -> Link:
        bpf = _libbpf.lib.bpf
        return Link(self.name, lambda: bpf.bpf_link__destroy(handle),
                    fd=bpf.bpf_link__fd(handle))

    def _failed(self, section: str | None = None):
        return failures.attach_failure(_libbpf.errno_now(), self.name,
                                       section or self.section_name)

    def attach(self) -> Link:
        """Attaches by section name (tp/, raw_tp/, tp_btf/, uprobe/..., kprobe/, ...)."""
        handle = _libbpf.lib.bpf.bpf_program__attach(self._handle)
        if not handle:
            raise self._failed()
        return self._link(handle)

    def attach_uprobe(self, binary: str, symbol: str | None = None, offset: int = 0,
                      pid: int = -1, retprobe: bool = False) -> Link:
        opts = _libbpf.uprobe_opts(symbol, retprobe)
        handle = _libbpf.lib.bpf.bpf_program__attach_uprobe_opts(
            self._handle, pid, binary.encode(), offset, _libbpf.byref(opts))
        if not handle:
            raise self._failed(f"{'uretprobe' if retprobe else 'uprobe'}/{binary}:{symbol}")
        return self._link(handle)

    def attach_xdp(self, ifindex: int) -> Link:
        handle = _libbpf.lib.bpf.bpf_program__attach_xdp(self._handle, ifindex)
        if not handle:
            raise self._failed()
        return self._link(handle)

    def attach_tc(self, ifindex: int, ingress: bool = True) -> Link:
        bpf = _libbpf.lib.bpf
        hook = _libbpf.tc_hook(ifindex, ingress)
        created = bpf.bpf_tc_hook_create(_libbpf.byref(hook))
        if created < 0 and created != -17:      # EEXIST: the clsact qdisc is there already
            raise AttachError(f"cannot create the tc hook for program '{self.name}'",
                              errno=-created, program=self.name)
        opts = _libbpf.tc_opts(self.fd)
        result = bpf.bpf_tc_attach(_libbpf.byref(hook), _libbpf.byref(opts))
        if result < 0:
            raise AttachError(f"cannot attach tc program '{self.name}'", errno=-result,
                              program=self.name)
        handle, priority = opts.handle, opts.priority

        def undo():
            detach = _libbpf.tc_opts()
            detach.handle, detach.priority = handle, priority
            bpf.bpf_tc_detach(_libbpf.byref(hook), _libbpf.byref(detach))
            if created == 0:      # we made the hook, so we remove it
                bpf.bpf_tc_hook_destroy(_libbpf.byref(hook))
        return Link(self.name, undo)

    def attach_perf_event(self, sample_freq: int = 49, cpus: list[int] | None = None) -> Link:
        """A software CPU-clock event per online CPU at `sample_freq` Hz, each attached."""
        links: list[Link] = []
        try:
            for cpu in cpus if cpus is not None else online_cpus():
                try:
                    fd = _libbpf.perf_event_open(cpu_clock_attr(sample_freq), -1, cpu)
                except OSError as exc:
                    raise AttachError(f"cannot open a perf event on CPU {cpu} for program "
                                      f"'{self.name}'", errno=exc.errno,
                                      program=self.name) from None
                handle = _libbpf.lib.bpf.bpf_program__attach_perf_event(self._handle, fd)
                if not handle:
                    error = self._failed()
                    os.close(fd)
                    raise error
                links.append(self._link(handle))    # the link closes the event's fd
        except BaseException:
            _undo_all(links)
            raise
        return Link(self.name, lambda: _undo_all(links))

    def __repr__(self) -> str:
        return f"<BpfProgram {self.name} {self.section_name}>"


def _undo_all(links: list[Link]) -> None:
    for link in links:
        link.detach()

