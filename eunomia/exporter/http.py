"""The exporter's HTTP side: GET /metrics for Prometheus, and eunomia-bpf's management
endpoints (POST /start, POST /stop, GET /list), which change what runs as root and so
always need the bearer token; GET /health answers without one."""

from __future__ import annotations

from http import HTTPStatus

from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ..jsonhttp import (
    DEFAULT_BODY_LIMIT,
    HttpError,
    JsonHandler,
    JsonServer,
    call_mapping_errors,
)
from .config import parse_program
from .exporter import Exporter, UnknownProgramError
from .prometheus import render

DEFAULT_ADDR, DEFAULT_PORT = "127.0.0.1", 8526
MANAGEMENT = {("POST", "/start"), ("POST", "/stop"), ("GET", "/list")}


class ExporterHandler(JsonHandler):
    server_version = "eunomia-exporter"

    def route(self, method: str, path: str):
        exporter: Exporter = self.server.exporter
        if (method, path) == ("GET", "/health"):
            return HTTPStatus.OK, {"status": "ok"}
        if (method, path) == ("GET", "/metrics"):
            self.authorize()
            return HTTPStatus.OK, (CONTENT_TYPE_LATEST, render(exporter))
        if (method, path) not in MANAGEMENT:
            known = path in {p for _, p in MANAGEMENT} | {"/metrics", "/health"}
            raise HttpError(HTTPStatus.METHOD_NOT_ALLOWED if known else HTTPStatus.NOT_FOUND,
                            f"no route {method} {path}")
        if self.server.token is None:
            raise HttpError(HTTPStatus.FORBIDDEN, "management endpoints are off: start the "
                            "exporter with --token-file to use them")
        self.authorize()
        if method == "GET":
            return HTTPStatus.OK, {"programs": exporter.list()}
        body = self.json_body()
        call = self._start if path == "/start" else self._stop
        return HTTPStatus.OK, call_mapping_errors(call, body, {
            UnknownProgramError: HTTPStatus.NOT_FOUND})

    def _start(self, body) -> dict:
        config = parse_program(body, "POST /start", max_series=self.server.max_series)
        return {"id": self.server.exporter.start(config)}

    def _stop(self, body) -> dict:
        program_id = body.get("id") if isinstance(body, dict) else None
        return self.server.exporter.stop(program_id)


class ExporterServer(JsonServer):
    def __init__(self, exporter: Exporter, addr: str = DEFAULT_ADDR, port: int = DEFAULT_PORT,
                 token: str | None = None, tls: tuple[str, str] | None = None,
                 max_series: int = 10_000, body_limit: int = DEFAULT_BODY_LIMIT):
        self.exporter = exporter
        self.max_series = max_series
        super().__init__(addr, port, ExporterHandler, token, body_limit, tls)
