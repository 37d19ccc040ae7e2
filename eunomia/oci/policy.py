"""Which code a service runs: `ecli server --verify-key KEY --allowed-images PREFIX`.

A package reaches a server inline (POST /task, a fleet record in etcd) or by reference
(`program_ref`: an image). With keys, an image needs a cosign signature by one of them
(as `ecli run --verify-key` checks), and an inline package a signature of its bytes
(`ecli sign --key KEY FILE` writes FILE.sig: base64 ECDSA-P256/SHA-256, the format of
`cosign sign-blob`). With allowed images, only images whose reference starts with one of
the prefixes, or whose digest is listed, run, and nothing inline does.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import SignatureError
from . import signing

POLICY_HINT = "sign it with `ecli sign --key KEY FILE` (FILE.sig) or push and sign an image"


@dataclass(frozen=True)
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

    def check_inline(self, content: bytes, signature: str | None, where: str) -> None:
        """SignatureError unless the policy lets this package, given by value, run."""
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

    def fetch_image(self, reference: str) -> bytes:
        """The package of image `reference`, pulled and checked against the policy."""
        from .images import Images
        from .reference import parse_reference
        images = Images()
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


NO_POLICY = CodePolicy()        # every package runs (a loopback server's default)
