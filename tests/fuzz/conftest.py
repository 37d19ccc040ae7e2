"""Seed packages for the fuzz tests, compiled once per session."""

from __future__ import annotations

import pytest

from tests.cli.conftest import EXAMPLES, compile_package, needs_clang

pytestmark = [needs_clang]


@pytest.fixture(scope="session")
def fuzz_packages(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("fuzz-seeds")
    return {name: compile_package(EXAMPLES / name / f"{name}.bpf.c", out / name)
            for name in ("exitsnoop",)}
