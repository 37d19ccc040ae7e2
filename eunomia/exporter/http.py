"""The exporter's HTTP side (FastAPI): GET /metrics for Prometheus, and eunomia-bpf's
management endpoints (POST /start, POST /stop, GET /list), which change what runs as
root and so always need the bearer token; GET /health answers without one."""

from __future__ import annotations

from http import HTTPStatus

from fastapi import Depends, HTTPException, Request
from fastapi.responses import Response
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict, StrictInt

from .. import __version__, defaults
from ..web import ERRORS_DOC, WebService, json_app, require_token
from .config import parse_program
from .exporter import Exporter, UnknownProgramError
from .prometheus import render
from .schema import ProgramEntry

DEFAULT_ADDR, DEFAULT_PORT = defaults.EXPORTER_ADDR, defaults.EXPORTER_PORT
DEFAULT_BODY_LIMIT = defaults.BODY_LIMIT


class ProgramRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: StrictInt


class Started(BaseModel):
    id: int


class ProgramInfo(BaseModel):
    id: int
    name: str
    metrics: list[str]


class Programs(BaseModel):
    programs: list[ProgramInfo]


class Stopped(BaseModel):
    id: int
    name: str


def api(exporter: Exporter, token: str | None, max_series: int, body_limit: int):
    app = json_app("eunomia exporter", __version__, body_limit, {UnknownProgramError: 404},
                   token)
    scrape = [Depends(require_token(token))]
    check = require_token(token)

    async def management(request: Request) -> None:
        if token is None:
            raise HTTPException(HTTPStatus.FORBIDDEN, "management endpoints are off: start "
                                "the exporter with --token-file to use them")
        await check(request)
    manage = [Depends(management)]

    # Scrapes run on the event loop, not in worker threads: rendering takes milliseconds,
    # and a thread pool grown by frequent scrapes costs memory for good.
    @app.get("/health")
    async def health():
        return {"status": "ok"}

    @app.get("/metrics", dependencies=scrape, response_class=Response, responses=ERRORS_DOC)
    async def metrics():
        return Response(render(exporter), media_type=CONTENT_TYPE_LATEST)

    @app.get("/list", response_model=Programs, dependencies=manage, responses=ERRORS_DOC)
    def list_programs():
        return {"programs": exporter.list()}

    @app.post("/start", response_model=Started, dependencies=manage, responses=ERRORS_DOC)
    def start(body: ProgramEntry):
        config = parse_program(body, "POST /start", max_series=max_series, remote=True)
        return {"id": exporter.start(config)}

    @app.post("/stop", response_model=Stopped, dependencies=manage, responses=ERRORS_DOC)
    def stop(body: ProgramRef):
        return exporter.stop(body.id)

    return app


class ExporterServer(WebService):
    def __init__(self, exporter: Exporter, addr: str = DEFAULT_ADDR, port: int = DEFAULT_PORT,
                 token: str | None = None, tls: tuple[str, str] | None = None,
                 max_series: int = defaults.MAX_SERIES, body_limit: int = DEFAULT_BODY_LIMIT,
                 verbose: bool = False):
        self.exporter = exporter
        super().__init__(api(exporter, token, max_series, body_limit), addr, port, token,
                         tls, verbose)


__all__ = ["DEFAULT_ADDR", "DEFAULT_PORT", "ExporterServer"]
