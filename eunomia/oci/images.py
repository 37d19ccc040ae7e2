"""Push, pull, sign and verify eunomia images; pulled images go through the local cache.

Pull policy (as `ig run --pull`): `missing` (the default) takes an image from the cache
when it is there, so a second run needs no network; `always` asks the registry what the
tag names now (blobs it already has still come from the cache); `never` uses the cache
only.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

from ..errors import ImageNotFoundError, RegistryError, SignatureError
from ..valueclass import field, valueclass
from . import PULL_POLICIES, mediatypes, signing
from .cache import ImageCache
from .reference import DIGEST, Reference, parse_reference
from .registry import RegistryClient, RegistryOptions


@valueclass
class Image:
    """A pulled image: its manifest and the one layer ecli runs."""

    reference: Reference
    digest: str
    manifest: dict
    layer: dict
    content: bytes = field(repr=False)

    @property
    def kind(self) -> str:
        """eunomia-bpf's program type: json, tar or wasm."""
        return mediatypes.PROGRAM_KIND[self.layer["mediaType"]]

    @property
    def annotations(self) -> dict:
        return _annotations(self.manifest)

    @property
    def file_name(self) -> str:
        """The name the image gives its file (the layer's title), safe as a file name."""
        title = _annotations(self.layer).get(mediatypes.TITLE) or \
            self.annotations.get(mediatypes.TITLE) or ""
        name = Path(str(title)).name
        if name and name not in (".", ".."):
            return name
        return {"wasm": "app.wasm", "tar": "package.tar"}.get(self.kind, "package.json")


def _annotations(holder: dict) -> dict:
    """A manifest's or descriptor's annotations: string to string, whatever was sent."""
    found = holder.get("annotations")
    if not isinstance(found, dict):
        return {}
    return {str(k): str(v) for k, v in found.items() if isinstance(v, (str, int, float))}


def descriptors(manifest: dict, where: str) -> list[dict]:
    """The manifest's layers, each checked: a sha256 digest, a size, a media type. A
    hostile manifest is a RegistryError, never a crash further on."""
    layers = manifest.get("layers")
    if not isinstance(layers, list):
        raise RegistryError(f"{where}: the manifest's 'layers' is not a list")
    for layer in layers:
        check_descriptor(layer, where)
    return layers


def check_descriptor(descriptor, where: str) -> dict:
    if not isinstance(descriptor, dict) or not isinstance(descriptor.get("mediaType"), str) \
            or not isinstance(descriptor.get("digest"), str) \
            or not DIGEST.match(descriptor["digest"]) \
            or not isinstance(descriptor.get("size"), int) or descriptor["size"] < 0:
        raise RegistryError(f"{where}: the manifest has a broken descriptor "
                            "(mediaType, sha256 digest and size expected)")
    return descriptor


def _runnable_layer(manifest: dict, where: str) -> dict:
    layers = descriptors(manifest, where)
    if not layers:
        raise RegistryError(f"{where}: the manifest has no layers")
    for layer in layers:
        if layer["mediaType"] in mediatypes.RUNNABLE_LAYERS:
            return layer
    kinds = ", ".join(sorted({layer["mediaType"] for layer in layers}))
    raise RegistryError(f"{where} is not an eunomia package or wasm module (its layers are "
                        f"{kinds})")


def _check_manifest(manifest: dict, media_type: str, where: str) -> None:
    kind = manifest.get("mediaType") or media_type
    if kind in (mediatypes.INDEX, "application/vnd.docker.distribution.manifest.list.v2+json"):
        raise RegistryError(f"{where} is an image index (several platforms), not an eunomia "
                            "package")


class Images:
    """Push, pull, sign and verify, with one cache and one set of registry options."""

    def __init__(self, options: RegistryOptions | None = None, cache: ImageCache | None = None):
        self.options = options or RegistryOptions()
        self.cache = cache or ImageCache()

    def client(self, reference: Reference) -> RegistryClient:
        return RegistryClient(reference, self.options)

    # -- pull -------------------------------------------------------------------------

    def pull(self, reference: Reference | str, policy: str = "missing") -> Image:
        reference = parse_reference(reference) if isinstance(reference, str) else reference
        if policy not in PULL_POLICIES:
            raise RegistryError(f"unknown pull policy {policy!r} ({', '.join(PULL_POLICIES)})")
        client = None
        digest = self.cache.lookup(reference) if policy != "always" or reference.digest else None
        if digest is None:
            if policy == "never":
                raise ImageNotFoundError(f"{reference} is not in the cache {self.cache.root} "
                                         "(--pull never)")
            client = self.client(reference)
            fetched = client.get_manifest()
            manifest = fetched.json()
            digest = self.cache.remember(reference, fetched.content, fetched.media_type or
                                         mediatypes.MANIFEST, _summary(manifest))
        else:
            manifest = _json_object(self.cache.read_blob(digest), digest)
        where = str(reference)
        _check_manifest(manifest, "", where)
        layer = _runnable_layer(manifest, where)
        content = self._blob(reference, layer, client)
        return Image(reference, digest, manifest, layer, content)

    def _blob(self, reference: Reference, descriptor: dict, client: RegistryClient | None):
        digest = descriptor.get("digest", "")
        if self.cache.has_blob(digest):
            return self.cache.read_blob(digest)
        client = client or self.client(reference)
        content = client.get_blob(descriptor)
        self.cache.write_blob(content)
        return content

    # -- push -------------------------------------------------------------------------

    def push(self, reference: Reference | str, content: bytes, file_name: str,
             annotations: dict | None = None) -> str:
        """Pushes one package or wasm module as an image; returns the manifest digest."""
        reference = parse_reference(reference) if isinstance(reference, str) else reference
        if reference.digest:
            raise RegistryError(f"{reference}: push to a tag, not a digest")
        layer_type = mediatypes.layer_type_for(file_name, content)
        client = self.client(reference)
        title = {mediatypes.TITLE: Path(file_name).name}
        layer = client.put_blob(content, layer_type, title)
        config_type = mediatypes.WASM_CONFIG if layer_type == mediatypes.WASM_LAYER \
            else mediatypes.EMPTY_CONFIG
        config = client.put_blob(mediatypes.EMPTY_JSON, config_type)
        manifest = {"schemaVersion": 2, "mediaType": mediatypes.MANIFEST}
        if layer_type != mediatypes.WASM_LAYER:
            manifest["artifactType"] = mediatypes.PACKAGE_ARTIFACT
        manifest.update({"config": config, "layers": [layer]})
        manifest["annotations"] = {
            mediatypes.TITLE: Path(file_name).name,
            mediatypes.CREATED: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **(annotations or {})}
        body = json.dumps(manifest, separators=(",", ":"), sort_keys=True).encode()
        digest = client.put_manifest(reference.tag or "latest", body)
        self.cache.write_blob(content)
        self.cache.write_blob(mediatypes.EMPTY_JSON)
        self.cache.remember(reference, body, mediatypes.MANIFEST, _summary(manifest))
        return digest

    # -- signatures -------------------------------------------------------------------

    def sign(self, reference: Reference | str, private_key) -> str:
        """Signs the image `reference` names now, as `cosign sign --key` does; returns the
        signed digest."""
        reference = parse_reference(reference) if isinstance(reference, str) else reference
        client = self.client(reference)
        digest = reference.digest or client.manifest_digest(reference.version)
        if digest is None:
            raise ImageNotFoundError(f"{reference}: not found in {reference.registry}")
        body = signing.payload(reference.name, digest)
        signature = signing.sign(private_key, body)
        tag = signing.signature_tag(digest)
        layers = []
        existing_digest = client.manifest_digest(tag)
        if existing_digest is not None:       # cosign adds a layer to what is there
            layers = descriptors(client.get_manifest(existing_digest).json(), str(reference))
        layers.append(client.put_blob(body, mediatypes.COSIGN_SIGNATURE,
                                      {mediatypes.COSIGN_SIGNATURE_ANNOTATION: signature}))
        config = client.put_blob(signing.signature_config(
            [layer["digest"] for layer in layers]), mediatypes.OCI_CONFIG)
        manifest = {"schemaVersion": 2, "mediaType": mediatypes.MANIFEST, "config": config,
                    "layers": layers}
        client.put_manifest(tag, json.dumps(manifest, separators=(",", ":")).encode())
        return digest

    def verify(self, image: Image, public_key, policy: str = "missing") -> None:
        """Raises SignatureError unless a signature by `public_key` vouches for the
        image's digest. Signatures are cached like images (offline runs verify too)."""
        sig_ref = image.reference.with_tag(signing.signature_tag(image.digest))
        tried_registry = False
        for source in ("cache", "registry"):
            if source == "cache" and policy == "always":
                continue
            if source == "registry" and policy == "never":
                break
            try:
                signatures = self._signature_payloads(sig_ref, source)
            except ImageNotFoundError:
                continue
            tried_registry |= source == "registry"
            for body, signature in signatures:
                if signing.verifies(public_key, body, signature) and \
                        signing.signed_digest(body) == image.digest:
                    return
        where = "in the registry" if tried_registry else "in the cache"
        raise SignatureError(f"{image.reference}: no valid signature by this key for "
                             f"{image.digest} {where} (signed with `ecli sign` or "
                             "`cosign sign --key`?)")

    def proof(self, image: Image) -> dict:
        """What lets someone without registry access check `image` later: its manifest
        (whose sha256 is the image's digest, and which names the package layer's digest)
        and the cosign signatures found for it (payload and signature), base64. The fleet
        stores it beside the package so that agents can apply --verify-key and
        --allowed-images to images."""
        signatures = []
        sig_ref = image.reference.with_tag(signing.signature_tag(image.digest))
        for source in ("cache", "registry"):
            try:
                signatures = self._signature_payloads(sig_ref, source)
                break
            except ImageNotFoundError:
                continue
        return {"reference": str(image.reference),
                "manifest": base64.b64encode(self.cache.read_blob(image.digest)).decode(),
                "signatures": [{"payload": base64.b64encode(body).decode(),
                                "signature": signature} for body, signature in signatures]}

    def _signature_payloads(self, sig_ref: Reference, source: str) -> list[tuple[bytes, str]]:
        if source == "cache":
            digest = self.cache.lookup(sig_ref)
            if digest is None:
                raise ImageNotFoundError(f"{sig_ref} is not cached")
            manifest = _json_object(self.cache.read_blob(digest), digest)
            client = None
        else:
            client = self.client(sig_ref)
            fetched = client.get_manifest()
            manifest = fetched.json()
            self.cache.remember(sig_ref, fetched.content, fetched.media_type or
                                mediatypes.MANIFEST)
        out = []
        for layer in descriptors(manifest, str(sig_ref)):
            if layer["mediaType"] != mediatypes.COSIGN_SIGNATURE:
                continue
            signature = _annotations(layer).get(mediatypes.COSIGN_SIGNATURE_ANNOTATION)
            if signature and layer["size"] <= 1024 * 1024:
                out.append((self._blob(sig_ref, layer, client), signature))
        return out


def _json_object(content: bytes, digest: str) -> dict:
    try:
        doc = json.loads(content)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise RegistryError(f"manifest {digest} is not a JSON object")
    return doc


def _summary(manifest: dict) -> dict:
    """What `ecli image ls` shows of an image without reading its blobs."""
    annotations = manifest.get("annotations") if isinstance(manifest, dict) else None
    if not isinstance(annotations, dict):
        return {}
    keys = (mediatypes.TITLE, mediatypes.VERSION, mediatypes.DESCRIPTION, mediatypes.CREATED)
    return {key: str(annotations[key]) for key in keys if key in annotations}


def package_annotations(obj_name: str | None, version: str | None,
                        description: str | None) -> dict:
    out = {}
    for key, value in ((mediatypes.TITLE, obj_name), (mediatypes.VERSION, version),
                       (mediatypes.DESCRIPTION, description)):
        if value:
            out[key] = value
    return out


__all__ = ["PULL_POLICIES", "Image", "Images", "package_annotations"]
