"""The HTTP API (eunomia-bpf's server routes) on the standard library's HTTP server.

Auth: when the server has a token every route but /health and /openapi.json needs
`Authorization: Bearer TOKEN` (compared in constant time); without a token the server
only ever listens on loopback (checked by `check_bind`)."""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import ssl
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources

from ..errors import ArgumentError, EunomiaError, LibbpfError, PackageError
from .tasks import StartRequest, TaskLimitError, TaskManager, UnknownTaskError

log = logging.getLogger("eunomia.server")

DEFAULT_ADDR, DEFAULT_PORT = "127.0.0.1", 8527
DEFAULT_BODY_LIMIT = 16 << 20
OPEN_ROUTES = {"/health", "/openapi.json"}


class ServerConfigError(ArgumentError):
    """The server would start unsafe or cannot start."""


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


class HttpError(Exception):
    def __init__(self, status: HTTPStatus, message: str):
        super().__init__(message)
        self.status = status


def _task_id(body) -> int:
    task_id = body.get("id") if isinstance(body, dict) else None
    if not isinstance(task_id, int) or isinstance(task_id, bool):
        raise HttpError(HTTPStatus.BAD_REQUEST, "the body must be {\"id\": <task id>}")
    return task_id


def _int_field(body, name: str, default: int, low: int, high: int) -> int:
    value = body.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise HttpError(HTTPStatus.BAD_REQUEST, f"'{name}' must be an integer in "
                                                f"{low}..{high}")
    return value


class Api:
    """Routes -> task manager calls; each returns (status, JSON body)."""

    def __init__(self, tasks: TaskManager):
        self.tasks = tasks

    def get_task(self, _body):
        return HTTPStatus.OK, {"tasks": self.tasks.list()}

    def post_task(self, body):
        request = StartRequest.from_json(body)
        task = self.tasks.start(request)
        reply = {"id": task.id, "name": task.name, "status": task.status}
        if request.replace is not None:
            reply["replaced"] = request.replace
        return HTTPStatus.OK, reply

    def post_stop(self, body):
        task = self.tasks.get(_task_id(body))
        task.stop()
        return HTTPStatus.OK, task.summary()

    def post_pause(self, body):
        task = self.tasks.get(_task_id(body))
        task.pause()
        return HTTPStatus.OK, task.summary()

    def post_resume(self, body):
        task = self.tasks.get(_task_id(body))
        task.resume()
        return HTTPStatus.OK, task.summary()

    def post_log(self, body):
        task = self.tasks.get(_task_id(body))
        cursor = _int_field(body, "log_cursor", 0, 0, 1 << 62)
        maximum = _int_field(body, "maximum_count", 1000, 1, 100_000)
        wait = _int_field(body, "wait_ms", 0, 0, 30_000) / 1000
        entries = task.log.read(cursor, maximum, wait)
        following = entries[-1].cursor + 1 if entries else max(cursor, 0)
        return HTTPStatus.OK, {"id": task.id, "status": task.status,
                               "next_cursor": following, "dropped": task.log.dropped,
                               "log": [e.to_dict() for e in entries]}

    def get_health(self, _body):
        return HTTPStatus.OK, {"status": "ok"}


ROUTES = {("GET", "/task"): "get_task", ("POST", "/task"): "post_task",
          ("POST", "/stop"): "post_stop", ("POST", "/pause"): "post_pause",
          ("POST", "/resume"): "post_resume", ("POST", "/log"): "post_log",
          ("GET", "/health"): "get_health"}


def openapi_document() -> bytes:
    return resources.files(__package__).joinpath("openapi.json").read_bytes()


class Handler(BaseHTTPRequestHandler):
    server_version = "eunomia-server"
    protocol_version = "HTTP/1.1"

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

    def _handle(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        try:
            if path == "/openapi.json" and method == "GET":
                self._send(HTTPStatus.OK, openapi_document())
                return
            route = ROUTES.get((method, path))
            if route is None:
                known = any(p == path for _, p in ROUTES)
                raise HttpError(HTTPStatus.METHOD_NOT_ALLOWED if known
                                else HTTPStatus.NOT_FOUND, f"no route {method} {path}")
            if path not in OPEN_ROUTES:
                self._authorize()
            body = self._body() if method == "POST" else {}
            status, reply = self._call(route, body)
        except HttpError as exc:
            self._drain()
            status, reply = exc.status, {"error": str(exc)}
        self._send(status, json.dumps(reply).encode())

    def _call(self, route: str, body):
        api: Api = self.server.api
        try:
            return getattr(api, route)(body)
        except UnknownTaskError as exc:
            raise HttpError(HTTPStatus.NOT_FOUND, str(exc)) from None
        except TaskLimitError as exc:
            raise HttpError(HTTPStatus.TOO_MANY_REQUESTS, str(exc)) from None
        except (ArgumentError, PackageError) as exc:
            raise HttpError(HTTPStatus.BAD_REQUEST, str(exc)) from None
        except LibbpfError as exc:        # verifier, attach: the package's fault
            raise HttpError(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc)) from None
        except EunomiaError as exc:
            raise HttpError(HTTPStatus.BAD_REQUEST, str(exc)) from None

    def _authorize(self) -> None:
        token = self.server.token
        if token is None:
            return
        given = self.headers.get("Authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(),
                                                                  token.encode()):
            raise HttpError(HTTPStatus.UNAUTHORIZED, "a valid bearer token is required")

    def _body(self):
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
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"the body is not JSON: {exc}") from None

    def _drain(self) -> None:
        """An early error leaves the body unread: close rather than misread it."""
        if self.command == "POST" and not getattr(self, "_read_body", False):
            self.close_connection = True

    def _send(self, status: HTTPStatus, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args) -> None:
        log.info("%s %s", self.address_string(), fmt % args)


class Server(ThreadingHTTPServer):
    """The server and its tasks; shutdown_all() stops the server, then every task."""

    daemon_threads = True

    def __init__(self, addr: str = DEFAULT_ADDR, port: int = DEFAULT_PORT,
                 token: str | None = None, tasks: TaskManager | None = None,
                 body_limit: int = DEFAULT_BODY_LIMIT, tls: tuple[str, str] | None = None):
        check_bind(addr, token)
        self.token = token
        self.body_limit = body_limit
        self.api = Api(tasks or TaskManager())
        super().__init__((addr, port), Handler)
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            try:
                context.load_cert_chain(*tls)
            except (OSError, ssl.SSLError) as exc:
                self.server_close()
                raise ServerConfigError(f"cannot use TLS certificate {tls[0]} / key "
                                        f"{tls[1]}: {exc}") from None
            self.socket = context.wrap_socket(self.socket, server_side=True)
        self.scheme = "https" if tls else "http"

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"{self.scheme}://{host}:{port}"

    def start_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, daemon=True)
        thread.start()
        return thread

    def shutdown_all(self) -> None:
        self.shutdown()
        self.server_close()
        self.api.tasks.shutdown()
