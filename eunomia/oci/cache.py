"""The local image cache: an OCI image layout (the format of `oras --oci-layout` and
`skopeo oci:`), so a second run of the same image needs no network.

    $EUNOMIA_CACHE_DIR, else $XDG_CACHE_HOME/eunomia/oci, else ~/.cache/eunomia/oci
      oci-layout                    {"imageLayoutVersion": "1.0.0"}
      index.json                    one descriptor per reference pulled, named by the
                                    org.opencontainers.image.ref.name annotation
      blobs/sha256/HEX              manifests, configs and layers, by digest

Every blob is checked against its digest when read back; writes are atomic, and the
index is updated under a lock, so concurrent runs share one cache.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import ImageNotFoundError, IntegrityError, RegistryError
from ..valueclass import valueclass
from . import mediatypes
from .reference import DIGEST, Reference
from .registry import sha256_digest


def default_cache_dir() -> Path:
    explicit = os.environ.get("EUNOMIA_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "eunomia" / "oci"


@valueclass(frozen=True)
class CachedImage:
    reference: str
    digest: str
    size: int
    annotations: dict


class ImageCache:
    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()

    # -- blobs ------------------------------------------------------------------------

    def _blob_path(self, digest: str) -> Path:
        if not isinstance(digest, str) or not DIGEST.match(digest):
            raise RegistryError(f"{digest!r} is not a sha256 digest")
        return self.root / "blobs" / "sha256" / digest[len("sha256:"):]

    def has_blob(self, digest: str) -> bool:
        return self._blob_path(digest).is_file()

    def read_blob(self, digest: str) -> bytes:
        path = self._blob_path(digest)
        try:
            content = path.read_bytes()
        except FileNotFoundError:
            raise ImageNotFoundError(f"blob {digest} is not in the cache {self.root}") \
                from None
        except OSError as exc:
            raise RegistryError(f"cannot read the cache {self.root}: {exc.strerror}") from None
        if sha256_digest(content) != digest:
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass            # said below either way
            raise IntegrityError(f"cached blob {digest} was changed on disk; it was removed, "
                                 "run again to fetch it")
        return content

    def write_blob(self, content: bytes) -> str:
        digest = sha256_digest(content)
        path = self._blob_path(digest)
        if not path.is_file():
            self._ensure_layout()
            self._write_atomically(path, content)
        return digest

    def _write_atomically(self, path: Path, content: bytes) -> None:
        """A temporary file of its own (threads and processes share the cache), then a
        rename: a reader sees the whole file or none."""
        try:
            fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(content)
                os.replace(temporary, path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise RegistryError(f"cannot write the cache {self.root}: "
                                f"{exc.strerror or exc}") from None

    # -- the index --------------------------------------------------------------------

    def _ensure_layout(self) -> None:
        try:
            (self.root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
            layout = self.root / "oci-layout"
            if not layout.exists():
                layout.write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
        except OSError as exc:
            raise RegistryError(f"cannot write the cache {self.root}: {exc.strerror}") \
                from None

    @contextmanager
    def _locked_index(self) -> Iterator[dict]:
        self._ensure_layout()
        try:
            lock = open(self.root / ".lock", "w")     # noqa: SIM115 (held below)
        except OSError as exc:
            raise RegistryError(f"cannot lock the cache {self.root}: "
                                f"{exc.strerror or exc}") from None
        with lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            index = self._read_index()
            yield index
            self._write_atomically(self.root / "index.json",
                                   json.dumps(index, indent=2).encode())

    def _read_index(self) -> dict:
        try:
            index = json.loads((self.root / "index.json").read_text())
        except FileNotFoundError:
            return {"schemaVersion": 2, "manifests": []}
        except (OSError, ValueError) as exc:
            raise RegistryError(f"the cache's index {self.root / 'index.json'} is broken "
                                f"({exc}); remove it to start a new cache") from None
        if not isinstance(index, dict) or not isinstance(index.get("manifests"), list):
            raise RegistryError(f"the cache's index {self.root / 'index.json'} is broken; "
                                "remove it to start a new cache")
        return index

    def remember(self, reference: Reference, manifest: bytes, media_type: str,
                 annotations: dict | None = None) -> str:
        """Stores a manifest under its digest, and under the tag it was fetched by."""
        digest = self.write_blob(manifest)
        names = {_digest_name(reference, digest)}
        if not reference.digest:
            names.add(_tag_name(reference))
        with self._locked_index() as index:
            kept = [entry for entry in index["manifests"] if _name(entry) not in names]
            for name in sorted(names):
                kept.append({"mediaType": media_type, "digest": digest, "size": len(manifest),
                             "annotations": {**(annotations or {}), mediatypes.REF_NAME: name}})
            index["manifests"] = kept
        return digest

    def lookup(self, reference: Reference) -> str | None:
        """The digest of the manifest cached under `reference`, if any."""
        wanted = _digest_name(reference, reference.digest) if reference.digest \
            else _tag_name(reference)
        for entry in self._read_index()["manifests"]:
            if _name(entry) == wanted and self.has_blob(entry.get("digest", "")):
                return entry["digest"]
        return None

    def images(self) -> list[CachedImage]:
        out = []
        index_entries = self._read_index()["manifests"]
        for entry in index_entries:
            annotations = dict(entry.get("annotations") or {})
            name = annotations.pop(mediatypes.REF_NAME, "")
            if "@" in name and any(e.get("digest") == entry.get("digest") and
                                   "@" not in _name(e) for e in index_entries):
                continue                # the digest alias of a tagged entry
            out.append(CachedImage(name, entry.get("digest", ""), entry.get("size", 0),
                                   annotations))
        return out

    def forget(self, reference: Reference) -> int:
        """Removes a tag (and its manifest once no other tag names it), or a digest with
        every tag on it, then the blobs nothing names; returns how many names went."""
        with self._locked_index() as index:
            entries = index["manifests"]
            if reference.digest:
                digest = reference.digest
                gone = [e for e in entries if e.get("digest") == digest]
            else:
                gone = [e for e in entries if _name(e) == _tag_name(reference)]
                digest = gone[0].get("digest") if gone else None
                still_tagged = [e for e in entries if e.get("digest") == digest and
                                "@" not in _name(e) and e not in gone]
                if not still_tagged:
                    gone += [e for e in entries if e.get("digest") == digest and
                             "@" in _name(e)]
            if not gone:
                raise ImageNotFoundError(f"{reference} is not in the cache {self.root}")
            index["manifests"] = [e for e in entries if e not in gone]
            self._collect_garbage(index["manifests"])
            return len(gone)

    def _collect_garbage(self, entries: list[dict]) -> None:
        used: set[str] = set()
        for entry in entries:
            digest = entry.get("digest", "")
            used.add(digest)
            try:
                manifest = json.loads(self.read_blob(digest))
            except (RegistryError, ValueError):
                continue
            for descriptor in [manifest.get("config") or {}] + list(manifest.get("layers") or []):
                if isinstance(descriptor, dict) and isinstance(descriptor.get("digest"), str):
                    used.add(descriptor["digest"])
        for path in (self.root / "blobs" / "sha256").glob("[0-9a-f]*"):
            if f"sha256:{path.name}" not in used:    # (another writer's .temp files stay)
                try:
                    path.unlink(missing_ok=True)
                except OSError:
                    pass        # still there: collected next time


def _name(entry: dict) -> str:
    annotations = entry.get("annotations")
    return str(annotations.get(mediatypes.REF_NAME, "")) if isinstance(annotations, dict) else ""


def _tag_name(reference: Reference) -> str:
    return f"{reference.name}:{reference.tag or 'latest'}"


def _digest_name(reference: Reference, digest: str) -> str:
    return f"{reference.name}@{digest}"
