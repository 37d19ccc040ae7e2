"""A cgroup program (sockops, cgroup_skb, ...) on a cgroup v2 directory."""

from __future__ import annotations

import os

from ... import _libbpf
from ...errors import AttachError
from ..link import Link
from .common import checked_link


def cgroup(program, path: str) -> Link:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise AttachError(f"cannot attach program '{program.name}' to cgroup {path}: "
                          f"{exc.strerror}", program=program.name) from None
    try:        # the link holds the cgroup; our fd is not needed past the attach
        return checked_link(program, _libbpf.lib.bpf.bpf_program__attach_cgroup(
            program.handle, fd))
    finally:
        os.close(fd)
