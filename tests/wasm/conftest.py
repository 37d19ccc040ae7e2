"""Wasm guests built here, as docs/wasm.md says: exitsnoop's object embedded by `ecc
--wasm-header`, C compiled by Debian's clang-19 for wasm32-wasi with wasi-libc and lld-19
(./scripts/setup-test installs them)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cli.conftest import ECC, ROOT, build_dir, example_package  # noqa: F401

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CLANG = shutil.which("clang-19")
WASI_LIBC = Path("/usr/lib/wasm32-wasi/libc.a")

def build_guest(source: Path, outdir: Path, example: str = "exitsnoop") -> Path:
    """The guest `source`, with `example`'s object from `ecc --wasm-header`."""
    outdir.mkdir(parents=True, exist_ok=True)
    built = subprocess.run([*ECC, str(ROOT / "examples" / example / f"{example}.bpf.c"),
                            "--wasm-header", "-o", str(outdir)], capture_output=True,
                           text=True, timeout=300, check=False)
    assert built.returncode == 0, built.stderr
    module = outdir / f"{source.stem}.wasm"
    compiled = subprocess.run([CLANG, "--target=wasm32-wasi", "--sysroot=/usr", "-O2",
                               "-Wall", "-Werror", f"-I{outdir}",
                               f"-I{ROOT / 'examples' / example}",
                               f"-I{ROOT / 'eunomia' / 'include'}", "-Wl,--export-table",
                               "-o", str(module), str(source)],
                              capture_output=True, text=True, timeout=300, check=False)
    assert compiled.returncode == 0, compiled.stderr
    return module


@pytest.fixture(scope="session")
def exits_guest(tmp_path_factory) -> Path:
    if CLANG is None or not WASI_LIBC.exists():
        pytest.skip("building guests needs clang-19, wasi-libc and lld-19 "
                    "(./scripts/setup-test)")
    return build_guest(FIXTURES / "exits.c", tmp_path_factory.mktemp("wasm"))
