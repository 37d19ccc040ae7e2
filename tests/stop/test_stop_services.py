"""Server tasks and exporter programs stopped right after a burst of 300,000 records
account for every one: the task's log and the exporter's counters see them all."""

from __future__ import annotations

import json

import yaml

from tests.exporter.conftest import RunningExporter, sample
from tests.kernel.conftest import wait_until
from tests.server.conftest import RunningServer, start_body
from tests.stop.conftest import BURST


def test_a_stopped_server_task_logs_every_record(flood_package, producer):
    running = RunningServer()
    try:
        client = running.client()
        child = producer()
        task = client.call("POST", "/task", start_body(flood_package.read_bytes(), "--json",
                                                       "--targ_tgid", str(child.pid),
                                                       "--stop-timeout", "300"))
        child.burst()
        summary = client.call("POST", "/stop", {"id": task["id"]})
        assert summary["status"] == "stopped"
        assert summary["events"] == BURST
        assert summary["dropped"] == 0 and summary["lost"] == 0
        # the log kept its newest entries: the last records, then "stopped"
        tail = client.call("POST", "/log", {"id": task["id"],
                                            "log_cursor": summary["log_entries"] - 3})["log"]
        assert [entry["kind"] for entry in tail] == ["event", "event", "info"]
        assert [json.loads(entry["text"])["seq"] for entry in tail[:2]] == [BURST - 2,
                                                                           BURST - 1]
        assert tail[-1]["text"] == "stopped"
    finally:
        running.stop()


def flood_config(tmp_path, package, tgid: int):
    """An exporter config: the flood program, counting records by comm."""
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"programs": [{
        "name": "flood", "compiled_ebpf_filename": str(package),
        # a stop writes out the whole backlog, however slow the machine: no 5 s bound
        "args": ["--targ_tgid", str(tgid), "--stop-timeout", "300"],
        "metrics": {"counters": [{"name": "flood_records", "description": "records",
                                  "labels": [{"name": "comm"}]}]}}]}))
    return config


def test_a_stopped_exporter_program_counts_every_record(flood_package, producer, tmp_path):
    child = producer()
    token = tmp_path / "token"
    token.write_text("stop-test-token\n")
    running = RunningExporter(flood_config(tmp_path, flood_package, child.pid),
                              "--token-file", token)
    try:
        child.burst()
        programs = json.loads(running.request("GET", "/list", token="stop-test-token")[1])
        program_id = programs["programs"][0]["id"]
        status, body = running.request("POST", "/stop", {"id": program_id},
                                       token="stop-test-token")
        assert status == 200, body
        text = running.metrics(token="stop-test-token")
        assert sample(text, "eunomia_exporter_events_total", program="flood",
                      map="flood") == BURST
        assert sample(text, "eunomia_exporter_queue_dropped_events_total", program="flood",
                      map="flood") == 0
    finally:
        running.stop()


def test_an_exporter_scrape_sees_the_burst_while_it_runs(flood_package, producer, tmp_path):
    """The same burst, no stop: the program's own counter reaches every record."""
    child = producer()
    running = RunningExporter(flood_config(tmp_path, flood_package, child.pid))
    try:
        child.burst()
        wait_until(lambda: running.value("flood_records_total", comm="producer") == BURST,
                   60, 0.2, what="the counter to reach the burst")
    finally:
        running.stop()
