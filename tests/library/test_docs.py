"""docs/library.md stays true: every ```python block in it runs, in order, from the
repository root, and the map tour prints what its comments say."""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import pytest

from tests.kernel.conftest import needs_btf, needs_root

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "library.md"

pytestmark = [needs_root, needs_btf,
              pytest.mark.skipif(not Path("/usr/bin/clang").exists(),
                                 reason="the docs compile examples with clang")]


def python_blocks() -> list[tuple[str, str]]:
    """(section heading, code) of every python block."""
    blocks, heading = [], ""
    for match in re.finditer(r"^(#+ [^\n]*)$|^```python\n(.*?)^```$", DOC.read_text(),
                             re.MULTILINE | re.DOTALL):
        if match.group(1):
            heading = match.group(1).lstrip("# ")
        else:
            blocks.append((heading, match.group(2)))
    return blocks


def run_block(code: str) -> str:
    out = io.StringIO()
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        with contextlib.redirect_stdout(out):
            # running the docs' own examples is the point of this test
            exec(compile(code, str(DOC), "exec"), {"__name__": "__doc_example__"})  # noqa: S102
    finally:
        os.chdir(cwd)
    return out.getvalue()


def test_every_python_block_runs():
    blocks = python_blocks()
    assert len(blocks) >= 8
    outputs = {}
    for heading, code in blocks:
        try:
            outputs.setdefault(heading, []).append(run_block(code))
        except Exception as exc:  # noqa: BLE001 (any failure: name the block that broke)
            pytest.fail(f"docs/library.md block under '{heading}' failed: {exc!r}\n{code}")
    first_event = outputs["Events"][0].split()
    assert first_event[0] == first_event[-1] == "True"        # our pid, a good fd
    assert outputs["Events"][2].strip() == "True"             # asyncio saw our pid
    maps = outputs["Maps"][0].splitlines()
    assert maps[:5] == ["42", "42", "10", "24", "10"]
    assert maps[5:7] == ["1 100", "True"]
    assert maps[-1] == "0"
    assert outputs["Pinning"][0].strip() == "kept"
    assert "distribution" in outputs["Histograms"][0]
    assert "pid = 1, comm = sh" in outputs["Histograms"][0]
    assert outputs["Symbols and stacks"][0].splitlines()[0] == "vfs_read+0x10"
    assert "getpid+0x0 [libc" in outputs["Symbols and stacks"][0]
    assert "kprobes" in outputs["Feature probes"][0]
    assert "package has no global variable 'no_such_flag'" in outputs["Errors"][0]
