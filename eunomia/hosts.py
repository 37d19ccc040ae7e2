"""Which host names are this machine's loopback (servers bind there without a token;
registries there may speak plain HTTP)."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """"localhost", 127.0.0.0/8 or ::1 (brackets allowed)."""
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
