"""Packages in OCI registries: `ecli push`, `ecli pull`, `ecli run HOST/NAME:TAG`.

    images = Images(RegistryOptions(credentials=Credentials("me", "secret")))
    images.push("localhost:5000/tools/exitsnoop:1", content, "package.json")
    image = images.pull("localhost:5000/tools/exitsnoop:1")       # via ~/.cache/eunomia/oci
    Package.load(image.content, image.kind)

`Package.load("HOST/NAME:TAG")` pulls with the defaults (the docker config's credentials,
the cache, pull policy `missing`). docs/oci.md describes the image layout.
"""

from __future__ import annotations

from ..lazy import lazy_exports

# what `ecli run --pull` takes (here: the command line reads it while building its parser,
# and must not import the registry client to do so)
PULL_POLICIES = ("missing", "always", "never")

# The submodules are imported on first use (PEP 562): `ecli run FILE` builds the image
# commands' parsers but never needs requests, hashlib or the cache.
_EXPORTS = {"ImageCache": "cache", "default_cache_dir": "cache", "Credentials": "credentials",
            "stored_credentials": "credentials", "Image": "images", "Images": "images",
            "package_annotations": "images", "Reference": "reference",
            "looks_like_reference": "reference", "parse_reference": "reference",
            "RegistryClient": "registry", "RegistryOptions": "registry"}


__getattr__ = lazy_exports(__name__, _EXPORTS)


def fetch_package(text: str, options=None, policy: str = "missing", verify_key=None,
                  cache=None):
    """The image `text` names (an Image), from the cache or its registry; with
    `verify_key` (a public key, see signing.load_public_key) only if a signature by it
    vouches for it."""
    from .images import Images
    from .reference import parse_reference
    images = Images(options, cache)
    image = images.pull(parse_reference(text), policy)
    if verify_key is not None:
        images.verify(image, verify_key, policy)
    return image


__all__ = ["PULL_POLICIES", "Credentials", "Image", "ImageCache", "Images", "Reference",
           "RegistryClient", "RegistryOptions", "default_cache_dir", "fetch_package",
           "looks_like_reference", "package_annotations", "parse_reference",
           "stored_credentials"]
