"""eunomia-bpf's exporter walkthrough, exactly as written: config.yaml, the exporter and
package.json in one directory, the exporter run with no arguments."""

from __future__ import annotations

import os
import shutil
import sys
import urllib.request
import uuid

from tests.exporter.conftest import sample
from tests.kernel.conftest import wait_until
from tests.service import ServiceProcess

# The walkthrough's config.yaml, as it is printed there.
WALKTHROUGH_CONFIG = """programs:
- name: opensnoop
  metrics:
    counters:
    - name: eunomia_file_open_counter
      description: test
      labels:
      - name: pid
      - name: comm
      - name: filename
        from: fname
  compiled_ebpf_filename: package.json
"""


def test_the_walkthrough_runs_with_no_arguments(packages, tmp_path):
    shutil.copy(packages["opensnoop"], tmp_path / "package.json")
    (tmp_path / "config.yaml").write_text(WALKTHROUGH_CONFIG)
    # run from the walkthrough's directory, with no arguments at all
    command = f"cd '{tmp_path}' && exec '{sys.executable}' -m eunomia.cli.exporter"
    running = ServiceProcess(["sh", "-c", command], r"serving (\S+)/metrics", "the exporter")
    try:
        assert running.url == "http://127.0.0.1:8526"
        attached = [line for line in running.lines if "attached in" in line]
        assert len(attached) == 1
        assert attached[0].startswith("eunomia-exporter: program opensnoop attached in ")
        assert attached[0].endswith(" ms")
        assert running.lines.index(attached[0]) < next(
            i for i, line in enumerate(running.lines) if "serving" in line)
        path = tmp_path / f"opened-{uuid.uuid4().hex}"
        path.write_text("x")
        for _ in range(3):
            with open(path):
                pass

        def counted():
            with urllib.request.urlopen(running.url + "/metrics", timeout=10) as reply:
                text = reply.read().decode()
            return sample(text, "eunomia_file_open_counter_total", filename=str(path),
                          pid=os.getpid())
        # the opens arrive one by one: wait for all three, not for the first
        wait_until(lambda: (counted() or 0) >= 3, 15, what="the walkthrough's counter")
    finally:
        running.stop()


def test_no_config_here_says_so(tmp_path):
    import subprocess
    result = subprocess.run([sys.executable, "-m", "eunomia.cli.exporter"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == ("eunomia-exporter: error: no config.yaml in this "
                                     "directory (the default config): give one with -c FILE")
