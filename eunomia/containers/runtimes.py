"""The container runtimes' own APIs, on their unix sockets: which containers run, with
their names, images and labels. Every call has one deadline for the whole exchange and a
cap on what it reads, so a slow or hostile socket costs a warning, never a hang.

Speaks HTTP through the standard library's http.client (a runtime's API is a few GET
requests; a client library would cost `ecli run` its start-up time).
"""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Callable

from ..errors import ArgumentError, EunomiaError
from ..logs import Logger
from ..valueclass import valueclass
from .model import Container

log = Logger("eunomia.containers")

CALL_SECONDS = 1.0          # one API call, connect to last byte
MAX_ANSWER = 8 << 20        # bytes of one answer
RETRY_SECONDS = 30.0        # a runtime that failed is not asked again before this


class RuntimeAPIError(EunomiaError):
    """A runtime's API did not answer usefully (a warning, and no names from it)."""


def _unix_connection(path: str, seconds: float):
    """An http.client connection to the unix socket `path`."""
    import http.client
    import socket

    class UnixConnection(http.client.HTTPConnection):
        def connect(self) -> None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(path)
            except OSError:
                sock.close()
                raise
            self.sock = sock
    return UnixConnection("localhost", timeout=seconds)


def get_json(path: str, url: str, seconds: float = CALL_SECONDS,
             limit: int = MAX_ANSWER):
    """GET `url` on the unix socket `path` and parse its JSON answer, within `seconds`
    in all and `limit` bytes; RuntimeAPIError says why not."""
    return fetch_json(_unix_connection(path, seconds), url, {}, seconds, limit)


def fetch_json(connection, url: str, headers: dict,
               seconds: float = CALL_SECONDS, limit: int = MAX_ANSWER):
    """GET `url` through `connection` (not connected yet) and parse its JSON answer,
    within `seconds` in all and `limit` bytes; RuntimeAPIError says why not."""
    import http.client

    from ..net import HeadersDeadline  # socket and ipaddress: when a runtime is asked
    sockets: list = []
    deadline = HeadersDeadline(sockets, seconds)
    try:
        with deadline:
            connection.connect()
            sockets.append(connection.sock)
            connection.request("GET", url, headers={"Accept": "application/json", **headers})
            response = connection.getresponse()
            body = response.read(limit + 1)
    except (OSError, http.client.HTTPException) as exc:
        if deadline.expired:
            raise RuntimeAPIError(f"no answer within {seconds:g} s") from None
        raise RuntimeAPIError(getattr(exc, "strerror", None) or str(exc) or
                              type(exc).__name__) from None
    finally:
        connection.close()
    if deadline.expired:
        raise RuntimeAPIError(f"no answer within {seconds:g} s")
    if response.status != 200:
        raise RuntimeAPIError(f"HTTP {response.status} for {url}")
    if len(body) > limit:
        raise RuntimeAPIError(f"an answer over {limit >> 20} MiB")
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise RuntimeAPIError("an answer that is not JSON") from None


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def _labels(value) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if isinstance(v, (str, int, float))}


def _listed(path: str, url: str, runtime: str) -> list[Container]:
    """A container listing in docker's shape (podman's libpod API answers the same
    fields): Id, Names ("/web" for docker), Image, Labels."""
    answer = get_json(path, url)
    found = []
    for entry in answer if isinstance(answer, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("Id"), str):
            continue
        names = entry.get("Names") if isinstance(entry.get("Names"), list) else []
        name = _text(names[0]).lstrip("/") if names else ""
        found.append(Container.from_labels(entry["Id"], runtime, name,
                                           _text(entry.get("Image")),
                                           _labels(entry.get("Labels"))))
    return found


def _podman(path: str) -> list[Container]:
    return _listed(path, "/v4.0.0/libpod/containers/json?all=true", "podman")


def _docker(path: str) -> list[Container]:
    return _listed(path, "/containers/json?all=1", "docker")


def _crio(path: str, wanted: list[str]) -> list[Container]:
    """CRI-O answers one container at a time (GET /containers/ID)."""
    found = []
    for container_id in wanted:
        answer = get_json(path, f"/containers/{container_id}")
        if isinstance(answer, dict):
            found.append(Container.from_labels(container_id, "crio",
                                               _text(answer.get("name")),
                                               _text(answer.get("image")),
                                               _labels(answer.get("labels"))))
    return found


@valueclass
class Runtime:
    """One runtime's socket and how to list its containers."""

    name: str
    path: str
    lister: Callable
    given: bool = False             # named by the user: its absence is worth a warning
    failed_at: float | None = None

    def containers(self, wanted: list[str]) -> list[Container]:
        """Its containers (those of `wanted`, for a runtime asked one at a time); [] when
        it is not there, or failed within RETRY_SECONDS (warned once per failure)."""
        if self.failed_at is not None and time.monotonic() - self.failed_at < RETRY_SECONDS:
            return []
        try:
            mode = os.stat(self.path).st_mode
        except OSError:
            if self.given:
                self._failed("no such socket")
            return []
        if not stat.S_ISSOCK(mode):
            self._failed("not a socket")
            return []
        try:
            found = self.lister(self.path, wanted) if self.name == "crio" else \
                self.lister(self.path)
        except RuntimeAPIError as exc:
            self._failed(str(exc))
            return []
        self.failed_at = None
        return found

    def _failed(self, why: str) -> None:
        self.failed_at = time.monotonic()
        log.warning("the %s API at %s: %s; its containers get no names for %g s",
                    self.name, self.path, why, RETRY_SECONDS)


# the sockets each runtime listens on by default
DEFAULT_SOCKETS = {"podman": "/run/podman/podman.sock", "docker": "/run/docker.sock",
                   "crio": "/var/run/crio/crio.sock"}
_LISTERS = {"podman": _podman, "docker": _docker, "crio": _crio}
RUNTIMES = tuple(_LISTERS)


def runtimes(sockets: dict[str, str] | None = None) -> list[Runtime]:
    """The runtimes to ask: the default sockets, with `sockets` ({runtime: path},
    --runtime-socket) over them; a path of "" leaves that runtime out."""
    unknown = sorted(set(sockets or {}) - set(DEFAULT_SOCKETS))
    if unknown:
        raise ArgumentError(f"no container runtime '{unknown[0]}' (known: "
                            f"{', '.join(DEFAULT_SOCKETS)})")
    chosen = {**DEFAULT_SOCKETS, **(sockets or {})}
    return [Runtime(name, path, _LISTERS[name], given=name in (sockets or {}))
            for name, path in chosen.items() if path]
