"""Image references: `host[:port]/path[:tag][@sha256:HEX]`, as Docker and ORAS write them.

The registry host is always explicit (it has a dot or a port, or is `localhost`), so a
reference never reads as a relative file path by accident: `ecli run ghcr.io/a/b:1`
is an image, `ecli run dir/pkg` is a file.
"""

from __future__ import annotations

import re

from ..errors import SourceError
from ..net import is_loopback
from ..valueclass import valueclass

DEFAULT_TAG = "latest"

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]{1,5})?"
_PATTERN = re.compile(
    rf"^(?P<host>{_HOST})/(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")       # the only algorithm used here


@valueclass(frozen=True)
class Reference:
    """One image: the registry, the repository in it, and a tag and/or digest."""

    registry: str           # host[:port]
    repository: str         # path/in/registry
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """registry/repository: the image without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def version(self) -> str:
        """What the manifest is fetched by: the digest if pinned, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.registry, self.repository, tag, None)

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.registry, self.repository, self.tag, digest)

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        if not self.tag and not self.digest:
            text += f":{DEFAULT_TAG}"
        return text

    @property
    def is_loopback(self) -> bool:
        if self.registry.startswith("["):
            host = self.registry.partition("]")[0] + "]"
        else:
            host = self.registry.rsplit(":", 1)[0]
        return is_loopback(host)


def _explicit_host(host: str) -> bool:
    bare = host.rsplit(":", 1)[0] if not host.startswith("[") else host
    return "." in bare or ":" in host or bare == "localhost"


def looks_like_reference(text: str) -> bool:
    """Whether `text` has the shape of an image reference with an explicit registry."""
    match = _PATTERN.match(text)
    return bool(match) and _explicit_host(match["host"])


def parse_reference(text: str) -> Reference:
    """The parts of `text`; SourceError says what is wrong with a malformed one."""
    match = _PATTERN.match(text.strip())
    if not match:
        raise SourceError(f"{text!r} is not an image reference "
                          "(expected host[:port]/path[:tag] or host/path@sha256:...; "
                          "lower-case path)")
    if not _explicit_host(match["host"]):
        raise SourceError(f"{text!r}: name the registry host (for example "
                          f"ghcr.io/{text} or localhost:5000/{text})")
    return Reference(match["host"], match["path"], match["tag"], match["digest"])

