"""A FastAPI app as the services want it: every error (bad JSON, a failed check, a
library error, a bug) answered as {"error": "one line"} with a 4xx or 5xx, request bodies
bounded in size and time, bearer tokens compared in constant time, no pages that would
fetch assets from the network."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from http import HTTPStatus

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import EunomiaError, LibbpfError

log = logging.getLogger("eunomia.server")
BODY_TIMEOUT_S = 30         # a body that stops short of its length is given up on


class ErrorReply(BaseModel):
    """Every error: one line saying what went wrong."""

    error: str


# the error answers every route may give, for the OpenAPI document
ERRORS_DOC = {status: {"model": ErrorReply} for status in (400, 401, 404, 413, 422, 429)}


def require_token(token: str | None):
    """A FastAPI dependency: `Authorization: Bearer TOKEN` when the service has a token."""
    async def check(request: Request) -> None:     # async: no worker thread for this
        if token is None:
            return
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
                value.strip().encode(), token.encode()):
            raise HTTPException(HTTPStatus.UNAUTHORIZED, "a valid bearer token is required")
    return check


def json_app(title: str, version: str, body_limit: int,
             statuses: dict[type, int] | None = None) -> FastAPI:
    """The app; `statuses` maps library exceptions to HTTP statuses (others: a kernel
    refusal is 422, any other EunomiaError 400)."""
    app = FastAPI(title=title, version=version, docs_url=None, redoc_url=None)
    app.add_middleware(BodyLimit, limit=body_limit)
    mapped = dict(statuses or {})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, exc):
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request, exc):
        return _error(HTTPStatus.BAD_REQUEST, _validation_line(exc.errors()))

    @app.exception_handler(EunomiaError)
    async def library_error(request, exc):
        status = next((code for kind, code in mapped.items() if isinstance(exc, kind)),
                      HTTPStatus.UNPROCESSABLE_ENTITY if isinstance(exc, LibbpfError)
                      else HTTPStatus.BAD_REQUEST)
        return _error(status, str(exc))

    @app.exception_handler(Exception)
    async def bug(request, exc):
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        return _error(HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error: {type(exc).__name__}")

    return app


def _error(status: int, text: str) -> JSONResponse:
    return JSONResponse({"error": text}, status_code=int(status))


def _validation_line(errors) -> str:
    """pydantic's first complaint as one line: where, then what."""
    if not errors:
        return "the request is not valid"
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
    kind = first.get("type", "")
    if kind == "json_invalid":
        return f"the body is not JSON: {first.get('ctx', {}).get('error', first['msg'])}"
    if kind == "extra_forbidden":
        return f"unknown field '{where}'"
    if kind == "missing":
        return f"'{where}' is required"
    return f"{where or 'the body'}: {first.get('msg', 'not valid')}"


class BodyLimit:
    """ASGI middleware: a request body is read whole before the app sees it, at most
    `limit` bytes (413 past it, chunked or not) and within BODY_TIMEOUT_S (408); it is
    taken as JSON whatever its declared content type."""

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            return await _send_error(send, HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                                     f"the body is {length.decode(errors='replace')} bytes; "
                                     f"the limit is {self.limit}")
        chunks, size, more = [], 0, True
        while more:
            try:
                message = await asyncio.wait_for(receive(), BODY_TIMEOUT_S)
            except asyncio.TimeoutError:
                return await _send_error(send, HTTPStatus.REQUEST_TIMEOUT,
                                         f"the body did not arrive within {BODY_TIMEOUT_S} s")
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                return await _send_error(send, HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                                         f"the body is over {self.limit} bytes; the limit is "
                                         f"{self.limit}")
            chunks.append(chunk)
            more = message.get("more_body", False)
        body, given = b"".join(chunks), False
        if body and not headers.get(b"content-type", b"").startswith(b"application/json"):
            # every body here is JSON, as eunomia-bpf's clients send it, content type or not
            scope = dict(scope, headers=[(k, v) for k, v in scope["headers"]
                                         if k != b"content-type"]
                         + [(b"content-type", b"application/json")])

        async def replay():
            nonlocal given
            if not given:
                given = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()      # the disconnect, when it comes
        return await self.app(scope, replay, send)


async def _send_error(send, status: int, text: str) -> None:
    body = json.dumps({"error": text}).encode()
    await send({"type": "http.response.start", "status": int(status),
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
