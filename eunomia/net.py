"""Small network helpers shared by the servers, the registry client and the etcd store."""

from __future__ import annotations

import ipaddress
import socket
import threading


def is_loopback(host: str) -> bool:
    """"localhost", 127.0.0.0/8 or ::1 (brackets allowed): where servers bind without a
    token and registries may speak plain HTTP."""
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def public_host(host: str) -> bool:
    """Whether every address `host` resolves to is a public one: not loopback,
    link-local, private, multicast, reserved or unspecified. False when it does not
    resolve."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError, ValueError):
        return False
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if getattr(address, "ipv4_mapped", None):
            address = address.ipv4_mapped
        if not address.is_global or address.is_multicast:
            return False
    return bool(infos)


_REASONS = (("CERTIFICATE_VERIFY_FAILED", "certificate verify failed"),
            ("Connection refused", "connection refused"),
            ("Name or service not known", "unknown host"),
            ("timed out", "timed out"),
            ("WRONG_VERSION_NUMBER", "the server does not speak TLS"))


def short_reason(exc: BaseException) -> str:
    """A failed request's cause in a few words ("connection refused"), not the
    multi-line repr that requests and urllib3 build."""
    text = str(getattr(exc, "detail_text", None) or exc)   # etcd3gw keeps it there
    for marker, reason in _REASONS:
        if marker in text:
            return reason
    return text.splitlines()[0][:200] if text else type(exc).__name__


def interrupt(response) -> None:
    """Shuts the socket under a streaming `requests` response, so a thread blocked reading
    it wakes at once (closing it from another thread does not)."""
    try:
        response.raw._fp.fp.raw._sock.shutdown(socket.SHUT_RDWR)
    except (AttributeError, OSError):
        response.close()


class Deadline:
    """Interrupts `response` when `seconds` pass: a peer that sends one byte at a time
    cannot hold a reader past it. Use as a context manager around the reading."""

    def __init__(self, response, seconds: float):
        self.expired = False
        self._timer = threading.Timer(seconds, self._fire, (response,))
        self._timer.daemon = True

    def _fire(self, response) -> None:
        self.expired = True
        interrupt(response)

    def __enter__(self):
        self._timer.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._timer.cancel()
