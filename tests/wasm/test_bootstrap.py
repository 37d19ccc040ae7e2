"""The bootstrap example as a Wasm guest (examples/bootstrap/wasm): the seed program's
output, and -d setting a const volatile global in the embedded object before the load."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.cli.conftest import ROOT, Ecli, needs_root

from .conftest import build_guest

pytestmark = needs_root


@pytest.fixture(scope="module")
def bootstrap_guest(tmp_path_factory, exits_guest):     # exits_guest: the toolchain is here
    return build_guest(ROOT / "examples" / "bootstrap" / "wasm" / "bootstrap.c",
                       tmp_path_factory.mktemp("bootstrap-wasm"), "bootstrap")


def test_bootstrap_prints_execs_and_exits_as_the_seed_does(bootstrap_guest):
    run = Ecli([str(bootstrap_guest)])
    run.wait_line(lambda line: line.startswith("TIME"), 30, what="the header")
    assert run.lines[0].split() == ["TIME", "EVENT", "COMM", "PID", "PPID",
                                    "FILENAME/EXIT", "CODE"]
    child = subprocess.Popen(["/bin/sh", "-c", "exit 3"])
    child.wait()
    run.wait_line(lambda line: re.match(rf"^\S+ +EXIT +sh +{child.pid} +\d+ +\[3\]", line),
                  20, what="the child's exit")
    run.wait_line(lambda line: re.match(rf"^\S+ +EXEC +sh +{child.pid} +\d+ +/bin/sh$",
                                        line), 20, what="the child's exec")
    assert run.stop() == 0


def test_min_duration_is_set_in_the_object(bootstrap_guest):
    """-d 60000: no process here lives a minute, so no exit passes the kernel's filter;
    execs still do."""
    run = Ecli([str(bootstrap_guest), "-d", "60000"])
    run.wait_line(lambda line: line.startswith("TIME"), 30, what="the header")
    child = subprocess.Popen(["/bin/sh", "-c", "exit 3"])
    child.wait()
    run.wait_line(lambda line: f" {child.pid} " in line and " EXEC " in line, 20,
                  what="the child's exec")
    assert run.stop() == 0
    assert not any(" EXIT " in line and f" {child.pid} " in line for line in run.lines)
