"""tc programs on an interface: as a tcx link where the kernel has them (Linux 6.6+), which
the kernel detaches when the last fd closes, so even `kill -9` leaves nothing behind;
else a clsact filter through bpf_tc_* (netlink), whose qdisc is made when missing and
removed again on detach only when we made it (that one outlives a killed process: every
catchable signal detaches it)."""

from __future__ import annotations

import errno
import os

from ... import _libbpf
from ...defaults import NOT_SUPPORTED_ERRNOS
from ...kinds import AttachType
from ..link import Link
from .common import failure
from .interfaces import ifindex

# tcx is missing on this kernel: the link create says one of these
_NO_TCX = NOT_SUPPORTED_ERRNOS


def tc(program, interface: int | str = "lo", ingress: bool = True,
       legacy: bool = False) -> Link:
    """tcx, else clsact; `legacy` goes straight to clsact."""
    index = ifindex(interface)
    link = None if legacy else tcx(program, index, ingress)
    return link if link is not None else clsact(program, index, interface, ingress)


def tcx(program, index: int, ingress: bool) -> Link | None:
    """A tcx link, or None when the kernel has no tcx (the caller falls back)."""
    kind = AttachType.TCX_INGRESS if ingress else AttachType.TCX_EGRESS
    fd = _libbpf.lib.bpf.bpf_link_create(program.fd, index, int(kind), None)
    if fd < 0:
        if -fd in _NO_TCX:
            return None
        raise failure(program, -fd, f"tcx/{'ingress' if ingress else 'egress'}")
    return Link(program.name, lambda: os.close(fd), fd)


def clsact(program, index: int, interface: int | str, ingress: bool) -> Link:
    bpf = _libbpf.lib.bpf
    direction = "ingress" if ingress else "egress"
    section = f"tc/{interface}/{direction}"
    hook = _libbpf.tc_hook(index, ingress)
    # Destroying a hook of one direction only flushes its filters; the qdisc itself goes
    # only when the hook names both directions (libbpf's tc_qdisc_delete).
    qdisc = _libbpf.tc_hook(index, ingress=True, egress=True)
    created = bpf.bpf_tc_hook_create(_libbpf.byref(hook))
    if created < 0 and created != -errno.EEXIST:     # EEXIST: clsact is there already
        raise failure(program, -created, section)
    opts = _libbpf.tc_opts(program.fd)
    result = bpf.bpf_tc_attach(_libbpf.byref(hook), _libbpf.byref(opts))
    if result < 0:
        if created == 0:
            bpf.bpf_tc_hook_destroy(_libbpf.byref(qdisc))
        raise failure(program, -result, section)
    handle, priority = opts.handle, opts.priority

    def undo():
        detach = _libbpf.tc_opts()
        detach.handle, detach.priority = handle, priority
        bpf.bpf_tc_detach(_libbpf.byref(hook), _libbpf.byref(detach))
        if created == 0:
            bpf.bpf_tc_hook_destroy(_libbpf.byref(qdisc))
    return Link(program.name, undo)
