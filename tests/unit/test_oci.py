"""Image references and the local image cache (no registry needed)."""

from __future__ import annotations

import json

import pytest

from eunomia.errors import ImageNotFoundError, IntegrityError, SourceError
from eunomia.oci import ImageCache, looks_like_reference, parse_reference
from eunomia.oci.signing import payload, signature_tag, signed_digest

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize("text, registry, repository, tag, digest", [
    ("ghcr.io/eunomia-bpf/execve:latest", "ghcr.io", "eunomia-bpf/execve", "latest", None),
    ("localhost:5000/x", "localhost:5000", "x", None, None),
    ("127.0.0.1:5000/a/b/c:v1.2-rc", "127.0.0.1:5000", "a/b/c", "v1.2-rc", None),
    (f"reg.example.com/a@{DIGEST}", "reg.example.com", "a", None, DIGEST),
    (f"localhost/a:t@{DIGEST}", "localhost", "a", "t", DIGEST),
])
def test_references_parse(text, registry, repository, tag, digest):
    reference = parse_reference(text)
    assert (reference.registry, reference.repository, reference.tag, reference.digest) == \
        (registry, repository, tag, digest)
    assert looks_like_reference(text)


@pytest.mark.parametrize("text", ["package.json", "examples/exitsnoop/package.json",
                                  "dir/pkg", "-", "https://x.io/a.json", "ghcr.io/A/B:1",
                                  "ghcr.io/a:", "a/b:c"])
def test_paths_and_urls_are_not_references(text):
    assert not looks_like_reference(text)


def test_a_reference_without_a_registry_says_how_to_name_one():
    with pytest.raises(SourceError, match="name the registry host"):
        parse_reference("eunomia-bpf/execve:latest")


def test_the_signature_payload_is_cosigns():
    body = payload("ghcr.io/a/b", DIGEST)
    assert body == (b'{"critical":{"identity":{"docker-reference":"ghcr.io/a/b"},"image":'
                    b'{"docker-manifest-digest":"' + DIGEST.encode() + b'"},"type":"cosign '
                    b'container image signature"},"optional":null}')
    assert signed_digest(body) == DIGEST
    assert signature_tag(DIGEST) == "sha256-" + "ab" * 32 + ".sig"


def test_the_cache_is_an_oci_layout_that_forgets_and_collects(tmp_path):
    cache = ImageCache(tmp_path)
    layer = cache.write_blob(b"package bytes")
    manifest = json.dumps({"schemaVersion": 2, "layers": [{"digest": layer}]}).encode()
    one = parse_reference("localhost:5000/a:1")
    digest = cache.remember(one, manifest, "application/vnd.oci.image.manifest.v1+json")
    cache.remember(parse_reference("localhost:5000/a:2"), manifest,
                   "application/vnd.oci.image.manifest.v1+json")
    assert json.loads((tmp_path / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    assert cache.lookup(one) == digest
    assert cache.lookup(parse_reference(f"localhost:5000/a@{digest}")) == digest
    assert sorted(i.reference for i in cache.images()) == ["localhost:5000/a:1",
                                                          "localhost:5000/a:2"]
    cache.forget(one)                        # tag 2 still names the manifest
    assert cache.has_blob(layer) and cache.lookup(one) is None
    cache.forget(parse_reference("localhost:5000/a:2"))
    assert not cache.has_blob(layer) and not cache.has_blob(digest)
    with pytest.raises(ImageNotFoundError):
        cache.forget(one)


def test_a_blob_changed_on_disk_is_refused(tmp_path):
    cache = ImageCache(tmp_path)
    digest = cache.write_blob(b"original")
    (tmp_path / "blobs" / "sha256" / digest[7:]).write_bytes(b"changed")
    with pytest.raises(IntegrityError, match="changed on disk"):
        cache.read_blob(digest)
