"""What `ecli server` and the exporter share over HTTP: the loopback rule, bearer-token
checks in constant time, bounded JSON bodies, errors as {"error": ...}, optional TLS."""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import socket
import ssl
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .errors import ArgumentError, EunomiaError, LibbpfError

log = logging.getLogger("eunomia.server")
DEFAULT_BODY_LIMIT = 16 << 20


class ServerConfigError(ArgumentError):
    """The server would start unsafe or cannot start."""


class HttpError(EunomiaError):
    """An answer other than 200, with its status."""

    def __init__(self, status: HTTPStatus, message: str):
        super().__init__(message)
        self.status = status


def call_mapping_errors(function, body, statuses: dict):
    """function(body), with the library's errors answered as HTTP errors: `statuses`
    first (exception type -> status), then a kernel refusal (verifier, attach) as 422
    and any other bad input as 400."""
    try:
        return function(body)
    except tuple(statuses) + (EunomiaError,) as exc:
        status = next((code for kind, code in statuses.items() if isinstance(exc, kind)),
                      HTTPStatus.UNPROCESSABLE_ENTITY if isinstance(exc, LibbpfError)
                      else HTTPStatus.BAD_REQUEST)
        raise HttpError(status, str(exc)) from None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(addr: str, token: str | None) -> None:
    """Anything beyond loopback can load code into this kernel: it needs a token."""
    if not token and not is_loopback(addr):
        raise ServerConfigError(f"refusing to listen on {addr} without a token: anyone who "
                                "reaches it could load programs into this kernel (give "
                                "--token-file, or listen on 127.0.0.1)")


class JsonHandler(BaseHTTPRequestHandler):
    """Subclasses define `route(method, path) -> (status, body bytes or JSON value)` and
    call `authorize()` / `json_body()` as their routes need."""

    protocol_version = "HTTP/1.1"
    timeout = 30        # seconds a silent connection may hold its thread

    def setup(self):
        super().setup()
        self._silent = False
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                self.connection.do_handshake()
            except (OSError, ssl.SSLError):
                self._silent = True     # no TLS, no answer: drop the connection

    def handle(self):
        if self._silent:
            return
        try:
            super().handle()
        except (ConnectionError, TimeoutError, ssl.SSLError):
            pass        # the client went away or stayed silent

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_DELETE(self):
        self._handle("DELETE")

    def do_PATCH(self):
        self._handle("PATCH")

    def route(self, method: str, path: str):
        raise NotImplementedError

    def _handle(self, method: str) -> None:
        content_type = "application/json"
        try:
            status, reply = self.route(method, self.path.split("?", 1)[0])
            if isinstance(reply, tuple):        # (content type, raw bytes)
                content_type, reply = reply
            else:
                reply = json.dumps(reply).encode()
        except HttpError as exc:
            self._drain()
            status, reply = exc.status, json.dumps({"error": str(exc)}).encode()
        except Exception as exc:
            log.exception("internal error on %s %s", self.command, self.path)
            self.close_connection = True
            status = HTTPStatus.INTERNAL_SERVER_ERROR
            reply = json.dumps({"error": f"internal error: {type(exc).__name__}"}).encode()
        self._send(status, reply, content_type)

    def authorize(self) -> None:
        token = self.server.token
        if token is None:
            return
        scheme, _, value = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(),
                                                                  token.encode()):
            raise HttpError(HTTPStatus.UNAUTHORIZED, "a valid bearer token is required")

    def json_body(self):
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            raise HttpError(HTTPStatus.BAD_REQUEST, "bad Content-Length") from None
        if length > self.server.body_limit:
            raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                            f"the body is {length} bytes; the limit is "
                            f"{self.server.body_limit}")
        raw = self.rfile.read(length) if length > 0 else b""
        self._read_body = True
        try:
            return json.loads(raw or b"{}")
        except RecursionError:
            raise HttpError(HTTPStatus.BAD_REQUEST, "the body is nested too deeply") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"the body is not JSON: {exc}") from None

    def _drain(self) -> None:
        """An early error leaves the body unread: close rather than misread it."""
        if self.command != "GET" and not getattr(self, "_read_body", False):
            self.close_connection = True

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args) -> None:
        log.info("%s %s", self.address_string(), fmt % args)


class JsonServer(ThreadingHTTPServer):
    """A threading HTTP server that checks the loopback rule and can serve TLS."""

    daemon_threads = True

    def __init__(self, addr: str, port: int, handler, token: str | None = None,
                 body_limit: int = DEFAULT_BODY_LIMIT, tls: tuple[str, str] | None = None):
        check_bind(addr, token)
        self.token = token
        self.body_limit = body_limit
        if ":" in addr:
            self.address_family = socket.AF_INET6
        try:
            super().__init__((addr, port), handler)
        except (OSError, OverflowError) as exc:
            raise ServerConfigError(f"cannot listen on {addr}:{port}: "
                                    f"{getattr(exc, 'strerror', None) or exc}") from None
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            try:
                context.load_cert_chain(*tls)
            except (OSError, ssl.SSLError) as exc:
                self.server_close()
                raise ServerConfigError(f"cannot use TLS certificate {tls[0]} / key "
                                        f"{tls[1]}: {exc}") from None
            # the handshake happens in the connection's thread (JsonHandler.setup), so a
            # client that never speaks cannot stall accept()
            self.socket = context.wrap_socket(self.socket, server_side=True,
                                              do_handshake_on_connect=False)
        self.scheme = "https" if tls else "http"

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"{self.scheme}://{host}:{port}"

    def start_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, daemon=True)
        thread.start()
        return thread
