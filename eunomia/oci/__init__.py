"""Packages in OCI registries: `ecli push`, `ecli pull`, `ecli run HOST/NAME:TAG`.

    images = Images(RegistryOptions(credentials=Credentials("me", "secret")))
    images.push("localhost:5000/tools/exitsnoop:1", content, "package.json")
    image = images.pull("localhost:5000/tools/exitsnoop:1")       # via ~/.cache/eunomia/oci
    Package.load(image.content, image.kind)

`Package.load("HOST/NAME:TAG")` pulls with the defaults (the docker config's credentials,
the cache, pull policy `missing`). docs/oci.md describes the image layout.
"""

from __future__ import annotations

from .cache import ImageCache, default_cache_dir
from .credentials import Credentials, stored_credentials
from .images import PULL_POLICIES, Image, Images, package_annotations
from .reference import Reference, looks_like_reference, parse_reference
from .registry import RegistryClient, RegistryOptions


def fetch_package(text: str, options: RegistryOptions | None = None, policy: str = "missing",
                  verify_key=None, cache: ImageCache | None = None) -> Image:
    """The image `text` names, from the cache or its registry; with `verify_key` (a
    public key, see signing.load_public_key) only if a signature by it vouches for it."""
    images = Images(options, cache)
    image = images.pull(parse_reference(text), policy)
    if verify_key is not None:
        images.verify(image, verify_key, policy)
    return image


__all__ = ["PULL_POLICIES", "Credentials", "Image", "ImageCache", "Images", "Reference",
           "RegistryClient", "RegistryOptions", "default_cache_dir", "fetch_package",
           "looks_like_reference", "package_annotations", "parse_reference",
           "stored_credentials"]
