"""A FastAPI app as the services want it: every error (bad JSON, a failed check, a
library error, a bug) answered as {"error": "one line"} with a 4xx or 5xx, request bodies
bounded in size and time, bearer tokens compared in constant time, no pages that would
fetch assets from the network."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import socket
from http import HTTPStatus

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import EunomiaError, LibbpfError, validation_line
from ..logs import Logger

log = Logger("eunomia.server")
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
        if not bearer_ok(request.headers.get("authorization", ""), token):
            raise HTTPException(HTTPStatus.UNAUTHORIZED, "a valid bearer token is required")
    return check


def json_app(title: str, version: str, body_limit: int,
             statuses: dict[type, int] | None = None, token: str | None = None) -> FastAPI:
    """The app; `statuses` maps library exceptions to HTTP statuses (others: a kernel
    refusal is 422, any other EunomiaError 400). Requests from other sites are refused
    and, with a `token`, a request that sends a body must carry it before the body is
    read (see CrossSiteGuard)."""
    app = FastAPI(title=title, version=version, docs_url=None, redoc_url=None)
    app.add_middleware(BodyLimit, limit=body_limit)
    app.add_middleware(CrossSiteGuard, token=token)     # added last: runs first
    mapped = dict(statuses or {})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, exc):
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request, exc):
        return _error(HTTPStatus.BAD_REQUEST, validation_line(exc.errors(), "the body"))

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


_SAFE_METHODS = (b"GET", b"HEAD", b"OPTIONS")


def bearer_ok(header: str, token: str) -> bool:
    scheme, _, value = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(),
                                                              token.encode())


class CrossSiteGuard:
    """ASGI middleware that keeps web pages of other sites out, before any handler runs
    or any body is read:
    - on a server without a token (loopback only), `Host` must name this machine (a
      loopback name, an IP address, or the host's own name): a DNS-rebinding page
      sends its own domain;
    - an `Origin`, when a browser sends one, must be this server's own (the dashboard's
      requests are same-origin);
    - a request that changes state (not GET/HEAD/OPTIONS) with a body must say
      `Content-Type: application/json`, which no cross-site form or no-cors fetch can
      send;
    - with a token, such a request must carry it before its body is read (an
      unauthenticated client cannot make the server buffer bodies)."""

    def __init__(self, app, token: str | None = None):
        self.app = app
        self.token = token
        # only a token-less server checks Host (and a DNS look-up of its own name need
        # not hold up the start of any other)
        self._names = _own_names() if token is None else frozenset()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        refusal = self.refusal(scope)
        if refusal is not None:
            return await _send_error(send, *refusal)
        return await self.app(scope, receive, send)

    def refusal(self, scope) -> tuple[int, str] | None:
        headers = dict(scope.get("headers") or [])
        host = headers.get(b"host", b"").decode("latin-1")
        # a token-less server listens on loopback only: a name other than this machine's
        # is a DNS-rebinding page. With a token, clients may use any DNS name (TLS
        # certificates, Prometheus targets): a rebinding page cannot know the token.
        if self.token is None and not self._host_ok(host):
            return HTTPStatus.FORBIDDEN, ("the Host header does not name this server (a "
                                          "request through another domain is refused)")
        origin = headers.get(b"origin")
        if origin is not None:
            scheme = scope.get("scheme", "http")
            if origin.decode("latin-1").lower() != f"{scheme}://{host}".lower():
                return HTTPStatus.FORBIDDEN, "requests from other origins are refused"
        if scope.get("method", "GET").encode() not in _SAFE_METHODS:
            kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            has_body = headers.get(b"content-length", b"0") != b"0" or \
                b"transfer-encoding" in headers
            if self.token is not None and not bearer_ok(
                    headers.get(b"authorization", b"").decode("latin-1"), self.token):
                return HTTPStatus.UNAUTHORIZED, "a valid bearer token is required"
            if has_body and kind != b"application/json":
                return HTTPStatus.UNSUPPORTED_MEDIA_TYPE, \
                    "the body must be JSON, sent with Content-Type: application/json"
        return None

    def _host_ok(self, host: str) -> bool:
        if not host:
            return False
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        name = name.strip("[]").lower()
        if name in self._names:
            return True
        try:
            ipaddress.ip_address(name)
            return True         # an address: no DNS name a page could rebind
        except ValueError:
            return False


def _own_names() -> set[str]:
    """This machine's names: localhost and its host names (an IP address is always
    fine)."""
    names = {"localhost"}
    for name in (socket.gethostname(), socket.getfqdn()):
        if name:
            names.add(name.lower())
    return names


class BodyLimit:
    """ASGI middleware: a request body is read whole before the app sees it, at most
    `limit` bytes (413 past it, chunked or not) and within BODY_TIMEOUT_S (408)."""

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
