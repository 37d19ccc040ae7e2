"""Small network helpers shared by the servers, the registry client and the etcd store."""

from __future__ import annotations

import ipaddress
import socket
import threading

from .errors import EunomiaError


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


def public_address(address: str) -> bool:
    """Whether an IP address is a public one: not loopback, link-local, private,
    multicast, reserved or unspecified."""
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if getattr(parsed, "ipv4_mapped", None):
        parsed = parsed.ipv4_mapped
    return parsed.is_global and not parsed.is_multicast


def public_host(host: str) -> bool:
    """Whether every address `host` resolves to is a public one. False when it does not
    resolve."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError, ValueError):
        return False
    return bool(infos) and all(public_address(info[4][0]) for info in infos)


class PeerRefused(EunomiaError, OSError):
    """A connection reached an address its caller does not let it reach (an OSError too:
    the HTTP clients turn it into their own connection failure)."""


def check_peer(sock, peer_allowed) -> None:
    """Closes `sock` and raises PeerRefused unless `peer_allowed(its peer's address)`:
    checked on the connection itself, so redirects, token realms and a name whose DNS
    answer changed after an earlier check are all covered."""
    if peer_allowed is None:
        return
    address = sock.getpeername()[0]
    if not peer_allowed(address):
        sock.close()
        raise PeerRefused(f"{address} is a loopback, link-local or private address")


def http_url(url: str):
    """`url` split (urllib.parse.SplitResult) once it is an http:// or https:// URL that
    names a host, with a port in range if it gives one; ValueError saying what is wrong
    otherwise (a broken [IPv6] address, a port out of range)."""
    import urllib.parse
    if not url.startswith(("http://", "https://")):
        raise ValueError("expected an http:// or https:// URL")
    parts = urllib.parse.urlsplit(url)
    parts.port                  # noqa: B018 (ValueError when out of range)
    if not parts.hostname:
        raise ValueError("names no host")
    return parts


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


class SocketWatch:
    """The sockets each thread's requests wait on (a list per thread: a deadline on one
    call must not cut another thread's)."""

    def __init__(self):
        self._local = threading.local()

    def current(self) -> list:
        """The calling thread's list, for a HeadersDeadline around its next request."""
        if not hasattr(self._local, "sockets"):
            self._local.sockets = []
        return self._local.sockets

    def remember(self, sock) -> None:
        sockets = self.current()
        sockets[:] = [s for s in sockets if s.fileno() != -1]
        sockets.append(sock)


def watch_sockets(session, peer_allowed=None) -> SocketWatch:
    """Mounts on a `requests` session an adapter whose connections tell the SocketWatch
    returned which socket the calling thread waits on (a pooled one too), so that a
    HeadersDeadline can interrupt a request still waiting for its status line and
    headers, which requests' per-read timeout cannot bound (a peer sending a byte every
    few seconds). Requests through a proxy are not watched (their pool is the proxy's)."""
    import requests.adapters
    import urllib3
    import urllib3.connection
    watch = SocketWatch()

    class Watched:
        def _new_conn(self):        # the TCP connection, vetted before any TLS
            sock = super()._new_conn()
            check_peer(sock, peer_allowed)
            return sock

        def getresponse(self, *args, **kwargs):
            watch.remember(self.sock)
            return super().getresponse(*args, **kwargs)

    class Plain(Watched, urllib3.connection.HTTPConnection):
        pass

    class Secure(Watched, urllib3.connection.HTTPSConnection):
        pass

    class PlainPool(urllib3.HTTPConnectionPool):
        ConnectionCls = Plain

    class SecurePool(urllib3.HTTPSConnectionPool):
        ConnectionCls = Secure

    class Adapter(requests.adapters.HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": PlainPool,
                                                       "https": SecurePool}
    session.mount("http://", Adapter())
    session.mount("https://", Adapter())
    return watch


class HeadersDeadline:
    """Shuts every socket of `sockets` (watch_sockets, or any list a client fills as it
    connects) when `seconds` pass: a request whose peer drips its headers (or body) ends
    then. `expired` says whether it did."""

    def __init__(self, sockets: list, seconds: float):
        self.expired = False
        self._sockets = sockets
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def _fire(self) -> None:
        self.expired = True
        for sock in list(self._sockets):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self):
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()


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
