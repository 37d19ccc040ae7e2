"""Network interfaces by name or index."""

from __future__ import annotations

import socket

from ...errors import AttachError


def ifindex(interface: int | str) -> int:
    """The index of `interface` ("lo", "eth0" or already an index)."""
    if isinstance(interface, int):
        return interface
    try:
        return socket.if_nametoindex(interface)
    except OSError:
        raise AttachError(f"network interface '{interface}' does not exist") from None
