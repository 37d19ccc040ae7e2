"""Where a package comes from: a file, a directory, an http(s) URL, an OCI image
(HOST/NAME:TAG), stdin, or the text itself.

Reading gives the parsed document (a dict) and a name for messages; validation is the
caller's job.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Union

from ..errors import PackageError, SourceError
from ..files import read_bounded

URL_TIMEOUT_S = 10           # for each read
URL_DEADLINE_S = 60          # for the whole download
MAX_PACKAGE_BYTES = 64 * 1024 * 1024         # for every source: file, stdin, URL
MAX_C_LOADER_BRACKETS = 2000
PACKAGE_FILE_NAMES = ("package.json", "package.yaml", "package.yml")

PackageSource = Union[str, bytes, bytearray, memoryview, os.PathLike]

# urllib and yaml are imported where used: together they cost about 35 ms of every
# `ecli run` start-up, and most packages are JSON files.


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def fetch_url(url: str, timeout: float = URL_TIMEOUT_S, limit: int = MAX_PACKAGE_BYTES,
              deadline: float = URL_DEADLINE_S, peer_allowed=None) -> bytes:
    """The body at `url`, at most `limit` bytes, within `deadline` seconds in all, the
    headers included (a server dripping a byte at a time cannot hold on: its socket is
    shut when the time is up); SourceError on any failure. `peer_allowed(address)`
    vets every connection's peer, redirects included."""
    import http.client
    import urllib.error

    from ..net import HeadersDeadline
    late = SourceError(f"cannot fetch {url}: not done within {deadline:g} s")
    sockets: list = []
    with HeadersDeadline(sockets, deadline) as watchdog:   # headers and body alike
        try:
            with _tracking_opener(sockets, peer_allowed).open(
                    url, timeout=min(timeout, deadline)) as response:
                chunks, size = [], 0
                while size <= limit:
                    chunk = response.read1(min(65536, limit + 1 - size))
                    if not chunk:
                        break
                    chunks.append(chunk)
                    size += len(chunk)
        except urllib.error.HTTPError as exc:
            raise SourceError(f"cannot fetch {url}: HTTP {exc.code} {exc.reason}") from None
        except (OSError, ValueError, http.client.HTTPException) as exc:
            if watchdog.expired:        # it shut the socket: that is the cause
                raise late from None
            reason = getattr(exc, "reason", None) or exc
            raise SourceError(f"cannot fetch {url}: {reason}") from None
        if watchdog.expired:            # a shut socket reads as the end of the body
            raise late
    if size > limit:
        raise SourceError(f"cannot fetch {url}: larger than {limit // (1024 * 1024)} MiB")
    return b"".join(chunks)


def _tracking_opener(sockets: list, peer_allowed=None):
    """A urllib opener that adds each connection's socket to `sockets` as it connects
    (redirects included), so a watchdog can interrupt a read of the headers too."""
    import http.client
    import urllib.request

    from ..net import check_peer

    class Tracked:
        def connect(self):
            super().connect()
            check_peer(self.sock, peer_allowed)
            sockets.append(self.sock)

    class Plain(Tracked, http.client.HTTPConnection):
        pass

    class Secure(Tracked, http.client.HTTPSConnection):
        pass

    class PlainHandler(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(Plain, req)

    class SecureHandler(urllib.request.HTTPSHandler):
        def https_open(self, req):
            return self.do_open(Secure, req, context=self._context)
    return urllib.request.build_opener(PlainHandler, SecureHandler)


def _read_limited(stream, name: str, limit: int = MAX_PACKAGE_BYTES) -> bytes:
    """At most `limit` bytes of `stream`, or SourceError (`ecli run /dev/zero`)."""
    data = stream.read(limit + 1)
    data = data.encode() if isinstance(data, str) else data
    if len(data) > limit:
        raise SourceError(f"{name}: larger than {limit // (1024 * 1024)} MiB: not a package")
    return data


def _read_stdin() -> bytes:
    return _read_limited(getattr(sys.stdin, "buffer", sys.stdin), "<stdin>")


def _package_file_in(directory: Path) -> Path:
    for name in PACKAGE_FILE_NAMES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    raise SourceError(f"{directory}: directory holds no {' or '.join(PACKAGE_FILE_NAMES[:2])}")


def read_source(source: PackageSource) -> tuple[bytes, str]:
    """(content, name for messages) of a package source."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), "<bytes>"
    if isinstance(source, str):
        if source == "-":
            return _read_stdin(), "<stdin>"
        if is_url(source):
            return fetch_url(source), source
        if source.lstrip().startswith(("{", "---")) or "\n" in source:
            return source.encode(), "<text>"
    path = Path(source)
    try:
        if isinstance(source, str) and not path.exists():
            from ..oci import looks_like_reference
            if looks_like_reference(source):
                return read_image(source)
        if path.is_dir():
            path = _package_file_in(path)
        return read_bounded(path, MAX_PACKAGE_BYTES), str(path)
    except OSError as exc:      # a name too long, a loop of links, no permission, ...
        shown = str(path) if len(str(path)) <= 200 else str(path)[:200] + "..."
        raise SourceError(f"cannot read {shown}: {exc.strerror or exc}") from None


def read_image(reference: str, options=None) -> tuple[bytes, str]:
    """An image's package, from the local cache or its registry (eunomia.oci;
    `options`: its RegistryOptions)."""
    from ..oci import fetch_package
    image = fetch_package(reference, options)
    if image.kind == "wasm":
        raise PackageError(f"{reference} is a wasm module: wasm programs are not supported "
                           "yet (this runtime runs json and tar packages)")
    return image.content, f"{reference}"


def parse_document(content: bytes, name: str) -> dict:
    """JSON (or YAML, its superset here) text -> the top-level object."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise PackageError(f"{name}: not a package (not UTF-8 text: JSON or YAML expected)") \
            from None
    yaml_first = name.endswith((".yaml", ".yml"))
    doc: Any = None
    if not yaml_first:
        try:
            doc = json.loads(text)
        except RecursionError:
            raise PackageError(f"{name}: not a package (nested too deeply)") from None
        except ValueError as json_error:
            doc = _parse_yaml(text, name, json_error)
    else:
        doc = _parse_yaml(text, name, None)
    if not isinstance(doc, dict):
        raise PackageError(f"{name}: not a package (JSON or YAML object expected, "
                           f"got {type(doc).__name__})")
    return doc


def _parse_yaml(text: str, name: str, json_error: Exception | None) -> Any:
    import yaml
    # The C loader is much faster on a multi-megabyte base64 string, but it overflows
    # its stack (a crash, not an error) on deeply nested text, which a package never
    # is: many brackets go to the Python loader, whose RecursionError is an error.
    nested = text.count("[") + text.count("{") > MAX_C_LOADER_BRACKETS
    loader = yaml.SafeLoader if nested else getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)
    except RecursionError:
        raise PackageError(f"{name}: not a package (nested too deeply)") from None
    except (yaml.YAMLError, ValueError) as exc:    # ValueError: an int of 5,000 digits
        reason = json_error if json_error is not None else exc
        raise PackageError(f"{name}: not JSON or YAML ({str(reason).splitlines()[0]})") \
            from None
