"""Packages the library tests load, compiled once per session with eunomia.compile."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.kernel.conftest import needs_btf, needs_root

FIXTURES = Path(__file__).resolve().parent / "fixtures"

pytestmark = [needs_root, needs_btf]


@pytest.fixture(scope="session")
def library_package(tmp_path_factory):
    """library_package("maps") -> eunomia.Package of fixtures/maps.bpf.c, built once
    (with `header=` when it is not maps.h)."""
    if shutil.which("clang") is None or shutil.which("bpftool") is None:
        pytest.skip("compiling the fixtures needs clang and bpftool")
    import eunomia

    out = tmp_path_factory.mktemp("library-packages")
    built = {}

    def build(name: str, header: str | None = None):
        if name not in built:
            built[name] = eunomia.compile(FIXTURES / f"{name}.bpf.c",
                                          FIXTURES / header if header else None,
                                          outdir=out / name)
        return built[name]
    return build
