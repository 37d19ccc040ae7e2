"""Log records from the other front ends: an exporter program with `logs:` only, and a
server task with --otlp-logs in its flags."""

from __future__ import annotations

import re
import subprocess

from tests.cli.conftest import wait_until
from tests.exporter.conftest import exporter, packages, write_config  # noqa: F401
from tests.server.conftest import ECLI, server  # noqa: F401

from .test_logs import exit_child


def test_an_exporter_program_ships_logs(exporter, packages, tmp_path, receiver):  # noqa: F811
    program = {"name": "exits", "compiled_ebpf_filename": str(packages["exitsnoop"]),
               "logs": {"endpoint": receiver.url, "body": "{comm} left with {exit_code}"},
               "metrics": {}}
    exporter(write_config(tmp_path / "config.yaml", [program]))
    pid = exit_child(5)
    record = wait_until(lambda: next((r for r in receiver.records
                                      if r["attributes"].get("pid") == pid), None),
                        20, what="the exit's log record from the exporter")
    assert record["body"] == "sh left with 5"


def test_a_server_task_ships_logs(server, example_package, receiver):  # noqa: F811
    running = server()
    started = subprocess.run([*ECLI, "client", "-e", running.url, "start",
                              str(example_package("exitsnoop")), "--otlp-logs",
                              receiver.url], capture_output=True, text=True, timeout=60,
                             check=False)
    assert started.returncode == 0, started.stderr
    assert re.search(r"started task \d+", started.stdout)
    pid = exit_child(6)
    record = wait_until(lambda: next((r for r in receiver.records
                                      if r["attributes"].get("pid") == pid), None),
                        20, what="the exit's log record from the server task")
    assert record["attributes"]["exit_code"] == 6
