"""Media types and annotations of the images ecli pushes (docs/oci.md explains them).

- A JSON or YAML package is one layer of `application/vnd.eunomia.package.v1+json`
  (`+yaml`), a `tar` package (ecc --btfgen) one of `application/vnd.eunomia.package.v1.tar`.
  They follow the OCI artifact guidance that ORAS follows: the empty config, an
  `artifactType`, and the file name as the layer's `org.opencontainers.image.title`, so
  that `oras pull` writes the file back.
- A wasm module keeps upstream eunomia-bpf's layout (its `ecli pull` reads only that):
  one `application/vnd.wasm.content.layer.v1+wasm` layer and a `{}` config of
  `application/vnd.wasm.config.v1+json`.
"""

from __future__ import annotations

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
ACCEPTED_MANIFESTS = (MANIFEST, DOCKER_MANIFEST)

EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"
EMPTY_JSON = b"{}"

PACKAGE_ARTIFACT = "application/vnd.eunomia.package.v1"
PACKAGE_JSON = "application/vnd.eunomia.package.v1+json"
PACKAGE_YAML = "application/vnd.eunomia.package.v1+yaml"
PACKAGE_TAR = "application/vnd.eunomia.package.v1.tar"

WASM_LAYER = "application/vnd.wasm.content.layer.v1+wasm"
WASM_CONFIG = "application/vnd.wasm.config.v1+json"

# cosign's signature images (its "legacy" .sig tag layout, which every cosign verifies)
COSIGN_SIGNATURE = "application/vnd.dev.cosign.simplesigning.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
COSIGN_SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"

TITLE = "org.opencontainers.image.title"
VERSION = "org.opencontainers.image.version"
DESCRIPTION = "org.opencontainers.image.description"
CREATED = "org.opencontainers.image.created"
REF_NAME = "org.opencontainers.image.ref.name"

RUNNABLE_LAYERS = (PACKAGE_JSON, PACKAGE_YAML, PACKAGE_TAR, WASM_LAYER)
# what -p (eunomia-bpf's program type) each layer is
PROGRAM_KIND = {PACKAGE_JSON: "json", PACKAGE_YAML: "json", PACKAGE_TAR: "tar",
                WASM_LAYER: "wasm"}


def layer_type_for(file_name: str, content: bytes) -> str:
    """The layer media type of a file to push, from its content and then its name."""
    if content.startswith(b"\0asm"):
        return WASM_LAYER
    if len(content) > 262 and content[257:262] == b"ustar":
        return PACKAGE_TAR
    if file_name.endswith((".yaml", ".yml")):
        return PACKAGE_YAML
    return PACKAGE_JSON
