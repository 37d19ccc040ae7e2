"""Records as OpenTelemetry log records: `ecli run --otlp-logs` against a real OTLP/HTTP
receiver on loopback, with real processes exiting."""

from __future__ import annotations

import socket
import subprocess

import pytest

from tests.cli.conftest import Ecli, needs_clang, needs_root, wait_until

pytestmark = [needs_root, needs_clang]


def exit_child(code: int) -> int:
    child = subprocess.Popen(["sh", "-c", f"exit {code}"])
    child.wait()
    return child.pid


def test_every_exit_is_a_log_record_with_its_fields(example_package, receiver):
    run = Ecli([str(example_package("exitsnoop")), "--json", "--otlp-logs", receiver.url])
    run.wait_attached()
    try:
        pid = exit_child(7)
        record = wait_until(lambda: next((r for r in receiver.records
                                          if r["attributes"].get("pid") == pid), None),
                            20, what="the exit's log record")
    finally:
        assert run.stop() == 0
    attributes = record["attributes"]
    assert attributes["exit_code"] == 7 and isinstance(attributes["ppid"], int)
    assert attributes["comm"] == "sh"
    assert attributes["duration_ns"].endswith("s")          # readable, as printed
    assert attributes["mntns"].startswith("mnt:[") and attributes["container"] == ""
    assert record["severity"] == "INFO" and record["path"] == "/v1/logs"
    # the body is the line ecli printed for it
    assert record["body"] in run.lines
    assert record["resource"]["service.name"] == "eunomia"
    assert record["resource"]["host.name"] == socket.gethostname()
    assert record["resource"]["eunomia.package.name"] == "exitsnoop"


def test_body_template_and_severity_field(example_package, receiver):
    run = Ecli([str(example_package("exitsnoop")), "--otlp-logs", receiver.url,
                "--otlp-body", "{comm} exited with {exit_code}",
                "--otlp-severity-field", "exit_code"])
    run.wait_attached()
    try:
        pid = exit_child(13)        # 13 is WARN as OTLP numbers severities
        record = wait_until(lambda: next((r for r in receiver.records
                                          if r["attributes"].get("pid") == pid), None),
                            20, what="the exit's log record")
    finally:
        run.stop()
    assert record["body"] == "sh exited with 13"
    assert (record["severity_number"], record["severity"]) == (13, "WARN")


def test_a_bad_template_is_one_line_before_loading(example_package):
    run = Ecli([str(example_package("exitsnoop")), "--otlp-logs", "http://127.0.0.1:9/v1/logs",
                "--otlp-body", "{nope}"])
    assert run.proc.wait(60) == 1
    run.join()
    assert run.errors == [("ecli: error: --otlp-body names no field 'nope' (the records' "
                          "fields: comm, container, duration_ns, exit_code, mntns, namespace, "
                          "pid, pod, ppid)")]
    bad_url = Ecli([str(example_package("exitsnoop")), "--otlp-logs", "127.0.0.1:4318"])
    assert bad_url.proc.wait(60) == 1
    bad_url.join()
    assert "expected an http:// or https:// URL" in bad_url.errors[0]


def test_a_collector_that_stops_mid_run_costs_counted_log_records(example_package,
                                                                   receiver):
    run = Ecli([str(example_package("exitsnoop")), "--json", "--otlp-logs", receiver.url])
    run.wait_attached()
    first = exit_child(3)
    wait_until(lambda: any(r["attributes"].get("pid") == first for r in receiver.records),
               20, what="a log record while the collector runs")
    receiver.stop()                         # the collector goes away
    later = [exit_child(4) for _ in range(5)]
    for pid in later:                       # ecli keeps reading and printing
        run.wait_event(lambda e, pid=pid: e.get("pid") == pid, what="an exit after it")
    assert run.stop() == 0
    text = "\n".join(run.errors)
    assert "log records" in text and ("did not take them" in text or
                                      "were not sent" in text), text
    assert not any("Traceback" in line for line in run.errors)


@pytest.mark.parametrize("url, message", [
    ("http://[::1/v1/logs", "Invalid IPv6 URL"),
    ("http://127.0.0.1:99999/v1/logs", "out of range"),
    ("http://", "names no host"),
])
def test_a_malformed_collector_url_is_one_line_before_loading(example_package, url, message):
    run = Ecli([str(example_package("exitsnoop")), "--otlp-logs", url])
    assert run.proc.wait(60) == 1
    run.join()
    assert len(run.errors) == 1 and message in run.errors[0], run.errors


def test_a_collector_dripping_its_answer_is_cut_off_and_counted(example_package):
    """The SDK's timeout bounds each read; a collector sending a byte every 0.3 s would
    hold an export forever. A deadline around each export ends it in 5 s."""
    import threading
    import time
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def drip():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            held.append(conn)
            threading.Thread(target=_drip_to, args=(conn,), daemon=True).start()

    def _drip_to(conn):
        try:
            conn.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000:
                conn.send(bytes([byte]))
                time.sleep(0.3)
        except OSError:
            pass
    threading.Thread(target=drip, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1/logs"
    try:
        run = Ecli([str(example_package("exitsnoop")), "--json", "--otlp-logs", url])
        run.wait_attached()
        pid = exit_child(3)
        run.wait_event(lambda e: e.get("pid") == pid, what="the exit")
        # the export that carries it gives up within its deadline and is counted
        wait_until(lambda: any("were not sent" in line or "did not take them" in line
                               for line in run.errors), 30,
                   what="the dripped export to be cut off and reported")
        assert run.stop() == 0
        assert not any("Traceback" in line for line in run.errors)
    finally:
        listener.close()
        for conn in held:
            conn.close()
