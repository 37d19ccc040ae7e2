"""A uvicorn server in a thread of its own, on a socket bound before anything else
happens (a port in use fails first), with the loopback rule and optional TLS."""

from __future__ import annotations

import socket
import ssl
import threading
import time

from ..errors import ArgumentError
from ..logs import Logger
from ..net import is_loopback

log = Logger("eunomia.server")
BACKLOG = 1024          # connections the kernel queues before accept()
KEEP_ALIVE_S = 30       # an idle connection is closed after this long
GRACEFUL_STOP_S = 1     # then open requests are cancelled: SIGTERM stops within 2 s


class ServerConfigError(ArgumentError):
    """The server would start unsafe or cannot start."""


def check_bind(addr: str, token: str | None) -> None:
    """Anything beyond loopback can load code into this kernel: it needs a token."""
    if not token and not is_loopback(addr):
        raise ServerConfigError(f"refusing to listen on {addr} without a token: anyone who "
                                "reaches it could load programs into this kernel (give "
                                "--token-file, or listen on 127.0.0.1)")


class WebService:
    """Serves an ASGI app on addr:port (0: a free one), in a thread: start_in_thread(),
    url, shutdown()."""

    def __init__(self, app, addr: str, port: int, token: str | None = None,
                 tls: tuple[str, str] | None = None, verbose: bool = False):
        check_bind(addr, token)
        self.token = token
        self._socket = _bound(addr, port)
        try:
            if tls is not None:
                _check_tls(*tls)
            import uvicorn
            config = uvicorn.Config(
                app, log_level="info" if verbose else "warning", access_log=verbose,
                lifespan="off", backlog=BACKLOG, timeout_keep_alive=KEEP_ALIVE_S,
                ssl_certfile=tls[0] if tls else None, ssl_keyfile=tls[1] if tls else None,
                server_header=False, proxy_headers=False,
                # a stop waits this long for requests in flight (long polls, streams)
                timeout_graceful_shutdown=GRACEFUL_STOP_S)
            self._server = uvicorn.Server(config)
        except BaseException:
            self._socket.close()
            raise
        self.scheme = "https" if tls else "http"
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._socket.getsockname()[:2]
        return f"{self.scheme}://{f'[{host}]' if ':' in host else host}:{port}"

    def start_in_thread(self, timeout: float = 30) -> threading.Thread:
        """Starts serving; returns once the server accepts connections."""
        self._thread = threading.Thread(target=self._server.run,
                                        kwargs={"sockets": [self._socket]},
                                        name="eunomia-http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ServerConfigError(f"the HTTP server on {self.url} did not start")
            time.sleep(0.01)
        return self._thread

    def shutdown(self, timeout: float = 10) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self.server_close()

    def server_close(self) -> None:
        self._socket.close()


def _bound(addr: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((addr, port))
    except (OSError, OverflowError) as exc:
        sock.close()
        raise ServerConfigError(f"cannot listen on {addr}:{port}: "
                                f"{getattr(exc, 'strerror', None) or exc}") from None
    return sock


def _check_tls(cert: str, key: str) -> None:
    """The certificate and key load: said as one line now rather than in the thread."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ServerConfigError(f"cannot use TLS certificate {cert} / key {key}: {exc}") \
            from None
