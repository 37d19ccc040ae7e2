"""Which code a service runs: `ecli server --verify-key KEY --allowed-images PREFIX`.

A package reaches a server inline (POST /task, a fleet record in etcd) or by reference
(`program_ref`: an image). With keys, an image needs a cosign signature by one of them
(as `ecli run --verify-key` checks), and an inline package a signature of its bytes
(`ecli sign --key KEY FILE` writes FILE.sig: base64 ECDSA-P256/SHA-256, the format of
`cosign sign-blob`). With allowed images, only images whose reference starts with one of
the prefixes, or whose digest is listed, run, and nothing inline does.
"""

from __future__ import annotations

import base64
import hashlib
import json

from ..errors import SignatureError
from ..valueclass import valueclass
from . import signing

POLICY_HINT = "sign it with `ecli sign --key KEY FILE` (FILE.sig) or push and sign an image"


@valueclass(frozen=True)
class CodePolicy:
    keys: tuple = ()                        # public keys (signing.load_public_key)
    allowed_images: tuple[str, ...] = ()    # reference prefixes, or sha256: digests

    @property
    def active(self) -> bool:
        return bool(self.keys or self.allowed_images)

    def image_allowed(self, reference: str, digest: str) -> bool:
        for allowed in self.allowed_images:
            if allowed.startswith(("sha256:", "@sha256:")):
                if allowed.lstrip("@") == digest:
                    return True
            elif reference.startswith(allowed):
                return True
        return False

    def check_inline(self, content: bytes, signature: str | None, where: str,
                     proof: dict | None = None) -> None:
        """SignatureError unless the policy lets this package, given by value, run: by
        the image `proof` it comes with (a fleet entry applied from an image), or by a
        `signature` of its bytes."""
        if not self.active:
            return
        if proof:
            try:
                self.check_proof(content, proof, where)
                return
            except SignatureError:
                if self.allowed_images or not signature:
                    raise
        if self.allowed_images:
            raise SignatureError(f"{where}: this server runs only images from "
                                 f"{', '.join(self.allowed_images)} (--allowed-images), "
                                 "not packages sent inline")
        if not self.keys:
            return
        if not signature:
            raise SignatureError(f"{where}: the package is not signed, and this server runs "
                                 f"only signed code (--verify-key): {POLICY_HINT}")
        if not any(signing.verifies(key, content, signature.strip()) for key in self.keys):
            raise SignatureError(f"{where}: the package's signature does not verify with "
                                 "any of this server's --verify-key keys")

    def check_proof(self, content: bytes, proof: dict, where: str) -> None:
        """SignatureError unless `proof` (Images.proof of the image `content` came from,
        as a fleet entry carries it) shows an image the policy lets run: the manifest
        must name `content`'s digest, a listed digest or a signature by a key must vouch
        for the manifest, and a reference prefix counts only where a key signed it (the
        entry's own words are anyone's who can write etcd)."""
        try:
            manifest_bytes = base64.b64decode(proof["manifest"], validate=True)
            manifest = json.loads(manifest_bytes)
            layers = [d.get("digest") for d in manifest.get("layers") or []
                      if isinstance(d, dict)]
            signed = [(base64.b64decode(s["payload"], validate=True), str(s["signature"]))
                      for s in proof.get("signatures") or []]
        except (KeyError, TypeError, ValueError, AttributeError):
            raise SignatureError(f"{where}: the entry's image proof is malformed") from None
        digest = "sha256:" + hashlib.sha256(manifest_bytes).hexdigest()
        if "sha256:" + hashlib.sha256(content).hexdigest() not in layers:
            raise SignatureError(f"{where}: the package is not the image's layer")
        vouched = [json.loads(body) for body, signature in signed
                   if signing.signed_digest(body) == digest and
                   any(signing.verifies(key, body, signature) for key in self.keys)]
        if self.keys and not vouched:
            raise SignatureError(f"{where}: no valid signature by this server's keys for "
                                 f"{proof.get('reference')}@{digest}")
        if self.allowed_images:
            signed_names = [_identity(doc) for doc in vouched]
            if not any(self.image_allowed(name, digest) for name in [""] + signed_names):
                raise SignatureError(f"{where}: {proof.get('reference')}@{digest} is not "
                                     "an allowed image here (a prefix needs a signature "
                                     "by --verify-key to vouch for the name)")

    def fetch_image(self, reference: str, options=None) -> bytes:
        """The package of image `reference`, pulled (with RegistryOptions `options`) and
        checked against the policy."""
        from .images import Images
        from .reference import parse_reference
        images = Images(options)
        image = images.pull(parse_reference(reference))
        if self.allowed_images and not self.image_allowed(reference, image.digest):
            raise SignatureError(f"{reference}: not an allowed image here "
                                 f"(--allowed-images {' '.join(self.allowed_images)})")
        if self.keys:
            failure = None
            for key in self.keys:
                try:
                    images.verify(image, key)
                    break
                except SignatureError as exc:
                    failure = exc
            else:
                raise failure
        return image.content


def _identity(payload: dict) -> str:
    try:
        return str(payload["critical"]["identity"]["docker-reference"])
    except (KeyError, TypeError):
        return ""


NO_POLICY = CodePolicy()        # every package runs (a loopback server's default)
