"""The bench cannot rot unseen: `bench/run.py --smoke` runs every section at tiny sizes
and writes its JSON. Timings are never asserted (they belong to the bench itself)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.cli.conftest import ROOT, needs_clang, needs_root

pytestmark = [needs_root, needs_clang]


def test_every_section_of_the_bench_runs(tmp_path):
    out = tmp_path / "results.json"
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--smoke",
                             "--json-out", str(out)], capture_output=True, text=True,
                            timeout=900, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(out.read_text())
    assert {"throughput", "startup", "compile", "maps", "containers", "memory"} <= set(results)
    assert results["memory"]["ecli server, idle"]["rss_mb"] > 0
    assert results["containers"]["json, per record"]["with_us"] > 0
    assert results["records"] == 20_000 and results["rounds"] == 1
