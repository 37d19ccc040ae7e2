"""The HTTP API (eunomia-bpf's server routes) on the standard library's HTTP server.

Auth: when the server has a token every route but /health and /openapi.json needs
`Authorization: Bearer TOKEN` (compared in constant time); without a token the server
only ever listens on loopback (checked by `check_bind`)."""

from __future__ import annotations

from http import HTTPStatus
from importlib import resources

from ..jsonhttp import (
    DEFAULT_BODY_LIMIT,
    HttpError,
    JsonHandler,
    JsonServer,
    ServerConfigError,
    call_mapping_errors,
    check_bind,
    is_loopback,
)
from .tasks import StartRequest, TaskLimitError, TaskManager, UnknownTaskError

DEFAULT_ADDR, DEFAULT_PORT = "127.0.0.1", 8527
OPEN_ROUTES = {"/health", "/openapi.json"}


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
        reply = {"id": task.id, "name": task.name, "status": task.status.value}
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
        return HTTPStatus.OK, {"id": task.id, "status": task.status.value,
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


class Handler(JsonHandler):
    server_version = "eunomia-server"

    def route(self, method: str, path: str):
        if path == "/openapi.json" and method == "GET":
            return HTTPStatus.OK, ("application/json", openapi_document())
        route = ROUTES.get((method, path))
        if route is None:
            known = any(p == path for _, p in ROUTES)
            raise HttpError(HTTPStatus.METHOD_NOT_ALLOWED if known
                            else HTTPStatus.NOT_FOUND, f"no route {method} {path}")
        if path not in OPEN_ROUTES:
            self.authorize()
        body = self.json_body() if method == "POST" else {}
        return self._call(route, body)

    def _call(self, route: str, body):
        return call_mapping_errors(getattr(self.server.api, route), body, {
            UnknownTaskError: HTTPStatus.NOT_FOUND,
            TaskLimitError: HTTPStatus.TOO_MANY_REQUESTS})


class Server(JsonServer):
    """The server and its tasks; shutdown_all() stops the server, then every task."""

    def __init__(self, addr: str = DEFAULT_ADDR, port: int = DEFAULT_PORT,
                 token: str | None = None, tasks: TaskManager | None = None,
                 body_limit: int = DEFAULT_BODY_LIMIT, tls: tuple[str, str] | None = None):
        self.api = Api(tasks or TaskManager())
        super().__init__(addr, port, Handler, token, body_limit, tls)

    def shutdown_all(self) -> None:
        self.shutdown()
        self.server_close()
        self.api.tasks.shutdown()


__all__ = ["Server", "ServerConfigError", "check_bind", "is_loopback"]
