"""tc (clsact) filters through bpf_tc_*: the qdisc is made when missing and removed again
on detach only when we made it."""

from __future__ import annotations

import errno

from ... import _libbpf
from ..link import Link
from .common import failure
from .interfaces import ifindex


def tc(program, interface: int | str = "lo", ingress: bool = True) -> Link:
    bpf = _libbpf.lib.bpf
    index = ifindex(interface)
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
