"""What the fleet keeps in etcd, and under which keys (docs/fleet.md).

    PREFIX/desired/NAME         what should run: the package, its flags, a selector
    PREFIX/nodes/NODE           an agent: labels, kernel, features   (under its lease)
    PREFIX/status/NODE/NAME     what that agent runs of NAME         (under its lease)

PREFIX defaults to /eunomia/fleet/default; two fleets share one etcd with two prefixes.
A desired entry's version is the etcd revision of its last change, so versions only grow
and an agent needs no counter of its own.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from ..errors import ArgumentError, PackageError, validation_line
from ..kinds import SessionState, unicode_text
from . import DEFAULT_PREFIX

MAX_PACKAGE_BYTES = 1 << 20         # etcd refuses requests over 1.5 MiB by default
MAX_ENTRY_BYTES = MAX_PACKAGE_BYTES * 4 // 3 + (64 << 10)   # base64 of it, and fields


def digest_of(content: bytes) -> str:
    return "sha256:" + hashlib.sha256(content).hexdigest()
_NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$")
_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?$")


def check_name(name: str, what: str = "name") -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ArgumentError(f"{what} {name!r}: use 1-63 lower-case letters, digits, '.', "
                            "'_' or '-', starting and ending with a letter or digit")
    return name


def parse_labels(items: list[str], what: str = "--label") -> dict[str, str]:
    """["zone=a", "gpu=yes"] -> {"zone": "a", "gpu": "yes"}; a clear error otherwise."""
    labels = {}
    for item in items:
        for part in item.split(","):
            key, sep, value = part.partition("=")
            if not sep or not _LABEL.match(key) or (value and not _LABEL.match(value)):
                raise ArgumentError(f"{what} {part!r}: expected KEY=VALUE (letters, digits, "
                                    "'.', '_', '-', '/')")
            labels[key] = value
    return labels


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


class Keys:
    """The key layout under one prefix."""

    def __init__(self, prefix: str = DEFAULT_PREFIX):
        if not prefix.startswith("/") or prefix.endswith("/") or "//" in prefix:
            raise ArgumentError(f"--prefix {prefix!r}: expected /PATH without a trailing '/'")
        self.prefix = prefix

    @property
    def desired_prefix(self) -> str:
        return f"{self.prefix}/desired/"

    @property
    def nodes_prefix(self) -> str:
        return f"{self.prefix}/nodes/"

    @property
    def status_prefix(self) -> str:
        return f"{self.prefix}/status/"

    def desired(self, name: str) -> str:
        return self.desired_prefix + name

    def node(self, node: str) -> str:
        return self.nodes_prefix + node

    def status(self, node: str, name: str) -> str:
        return f"{self.status_prefix}{node}/{name}"

    def name_of(self, key: str, prefix: str) -> str:
        return key[len(prefix):]


class _Record(BaseModel):
    """A record kept in etcd as a JSON object of its fields. Strict: a value of the wrong
    kind (written by hand, or by another version) is refused, never coerced; unknown
    keys (a newer agent's) are kept and written back."""

    model_config = ConfigDict(strict=True, extra="allow")

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_json(cls, doc):
        """The record, or None for a document that is not one."""
        if not isinstance(doc, dict):
            return None
        try:
            return cls.model_validate(doc)
        except ValidationError:
            return None


Text = Annotated[str, AfterValidator(unicode_text)]


class Desired(_Record):
    """One package the fleet should run, on the nodes its selector picks."""

    name: Text
    package: str                    # base64 of the package file
    args: list[Text] = Field(default_factory=list)
    selector: dict[str, str] = Field(default_factory=dict)
    source: str = ""                # where apply read it (file, URL, image reference)
    digest: str = ""                # sha256 of the package bytes
    applied_at: float = 0.0
    signature: str = ""             # of the package bytes (ecli sign FILE), if signed
    image: dict = Field(default_factory=dict)   # oci Images.proof, if applied from one
    version: int = Field(0, exclude=True)   # the etcd revision of this entry (not stored)

    @classmethod
    def of(cls, name: str, content: bytes, args, selector, source: str, now: float,
           signature: str = "", image: dict | None = None) -> Desired:
        if len(content) > MAX_PACKAGE_BYTES:
            raise ArgumentError(f"the package is {len(content)} bytes; the fleet carries "
                                f"packages up to {MAX_PACKAGE_BYTES // 1024} KiB in etcd "
                                "(etcd's request limit is 1.5 MiB)")
        try:
            return cls(name=name, package=base64.b64encode(content).decode(),
                       args=list(args), selector=dict(selector), source=source,
                       digest=digest_of(content), applied_at=now, signature=signature,
                       image=dict(image or {}))
        except ValidationError as exc:      # a flag that is not UTF-8, say
            raise ArgumentError(validation_line(exc.errors(), "the entry")) from None

    def same_spec(self, other: Desired) -> bool:
        return (self.digest, self.args, self.selector, self.signature, self.image) == \
            (other.digest, other.args, other.selector, other.signature, other.image)

    def content(self) -> bytes:
        """The package's bytes, checked against the digest the entry claims (anyone who
        can write etcd can write an entry: a mismatch is refused, with the reason)."""
        try:
            content = base64.b64decode(self.package, validate=True)
        except (binascii.Error, ValueError):
            raise PackageError(f"{self.name}: the entry's package is not base64") from None
        if digest_of(content) != self.digest:
            raise PackageError(f"{self.name}: the package does not match the entry's digest "
                               f"({self.digest[:19] or 'none'}...): not written by `ecli "
                               "fleet apply`, or altered since")
        return content

    @classmethod
    def from_entry(cls, entry) -> Desired | None:
        """None for an entry that is not a desired package (written by hand, broken)."""
        try:
            return cls.read(entry)
        except PackageError:
            return None

    @classmethod
    def read(cls, entry) -> Desired:
        """The entry as a desired package; PackageError naming the field that is wrong."""
        if len(entry.value) > MAX_ENTRY_BYTES:
            raise PackageError(f"the entry is {len(entry.value)} bytes: more than an apply "
                               f"writes ({MAX_ENTRY_BYTES >> 10} KiB)")
        doc = entry.json()
        if not isinstance(doc, dict):
            raise PackageError("the entry is not a JSON object (written by hand?)")
        doc.pop("version", None)        # the revision says it, not the entry
        try:
            desired = cls.model_validate(doc)
        except ValidationError as exc:
            raise PackageError(f"the entry: {validation_line(exc.errors())}") from None
        desired.version = entry.mod_revision
        return desired


class TaskStatus(_Record):
    """What one node runs of one desired package."""

    node: str
    name: str
    version: int
    state: SessionState = Field(strict=False)   # its value in JSON: "running"
    since: float
    events: int = 0
    lost: int = 0
    dropped: int = 0
    error: str = ""
    running_version: int = 0        # the version still running after a failed update


class NodeRecord(_Record):
    node: str
    labels: dict[str, str]
    kernel: str
    features: dict[str, bool]
    started_at: float
    api: str = ""                   # the agent's local API (for the dashboard)


class DesiredSummary(BaseModel):
    """A desired package as GET /fleet lists it (without the package itself)."""

    name: str
    version: int
    selector: dict[str, str]
    args: list[str]
    source: str
    digest: str
    applied_at: float


class FleetView(BaseModel):
    """GET /fleet on an agent: the fleet as it reads it from etcd."""

    nodes: list[NodeRecord]
    status: list[TaskStatus]
    desired: list[DesiredSummary]
