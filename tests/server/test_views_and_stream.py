"""The routes the dashboard (and scripts) use: task details, samples, maps, the event
stream (Server-Sent Events), and starting from a URL."""

from __future__ import annotations

import json
import subprocess

import pytest
import requests

from eunomia.cli.client import ClientError
from tests.kernel.conftest import exit_child, wait_until

from .conftest import pytestmark, start_body  # noqa: F401


def sse_events(response):
    """(kind, data) pairs of a text/event-stream response, as they arrive."""
    kind, data = "message", ""
    for line in response.iter_lines(decode_unicode=True):
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            data += line[6:]
        elif line == "" and data:
            yield kind, json.loads(data)
            kind, data = "message", ""


def test_events_stream_as_server_sent_events(server, exitsnoop_package, tmp_path):
    token = tmp_path / "token"
    token.write_text("stream-token")
    running = server("--token-file", token)
    client = running.client("stream-token")
    task = client.call("POST", "/task", start_body(exitsnoop_package, export_json=True))
    url = f"{running.url}/task/{task['id']}/events"
    assert requests.get(url, timeout=10).status_code == 401
    with requests.get(url, headers={"Authorization": "Bearer stream-token"}, stream=True,
                      timeout=30) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        pid = exit_child(4)
        for kind, data in sse_events(response):
            if kind == "event" and json.loads(data["text"])["pid"] == pid:
                assert json.loads(data["text"])["exit_code"] == 4
                break
    client.call("POST", "/stop", {"id": task["id"]})
    # a stopped task's stream ends after its last entry
    with requests.get(url, headers={"Authorization": "Bearer stream-token"}, stream=True,
                      timeout=30) as response:
        kinds = [kind for kind, _ in sse_events(response)]
    assert kinds[-1] == "end" and "event" in kinds
    spec = client.call("GET", "/openapi.json")
    stream = spec["paths"]["/task/{task_id}/events"]["get"]["responses"]["200"]
    assert "text/event-stream" in stream["content"]


def test_details_samples_and_maps_of_a_task(server, example_package):
    running = server()
    client = running.client()
    package = example_package("syscall_latency").read_bytes()
    task = client.call("POST", "/task", start_body(package))
    detail = client.call("GET", f"/task/{task['id']}")
    assert detail["sampled"] == ["hists"]
    assert {p["section"] for p in detail["programs"]} == {"tp/raw_syscalls/sys_enter",
                                                          "tp/raw_syscalls/sys_exit"}
    assert "hists" in detail["maps"] and "start" in detail["maps"]
    samples = wait_until(lambda: client.call("GET", f"/task/{task['id']}/samples")["samples"],
                         15, what="a first sample")
    histogram = samples[0]["histograms"][0]
    assert histogram["kind"] == "log2" and histogram["total"] > 0
    assert sum(b["count"] for b in histogram["buckets"]) == histogram["total"]
    maps = {m["name"]: m for m in client.call("GET", f"/task/{task['id']}/maps")["maps"]}
    assert maps["hists"]["count"] == 1 and len(maps["hists"]["entries"][0]["value"]
                                               ["slots"]) == 26
    client.call("POST", "/stop", {"id": task["id"]})
    assert client.call("GET", f"/task/{task['id']}/maps") == {"maps": []}
    # the replies are typed all the way down in the OpenAPI document
    schemas = client.call("GET", "/openapi.json")["components"]["schemas"]
    assert schemas["Samples"]["properties"]["samples"]["items"]["$ref"].endswith("SampleView")
    assert {"low", "high", "count"} <= set(schemas["Bucket"]["properties"])
    assert schemas["MapTables"]["properties"]["maps"]["items"]["$ref"].endswith("MapView")
    assert schemas["TaskSummary"]["properties"]["status"]["$ref"].endswith("SessionState")
    assert set(schemas["SessionState"]["enum"]) == {
        "starting", "running", "paused", "stopping", "stopped", "failed"}


def test_start_from_a_url_but_never_from_a_server_path(server, exitsnoop_package,
                                                       http_server):
    url = http_server(exitsnoop_package)
    # loopback is the server's own network: refused unless allowed
    refused = server().client()
    with pytest.raises(ClientError, match="127.0.0.1 is a loopback, link-local or private "
                                          "address.*--allow-ref-host 127.0.0.1"):
        refused.call("POST", "/task", {"program_ref": url})
    for ref in ("http://169.254.169.254/latest/meta-data", "http://10.0.0.1/p.json",
                "localhost:5000/tools/x:1", "[::1]:5000/tools/x:1"):
        with pytest.raises(ClientError, match="loopback, link-local or private"):
            refused.call("POST", "/task", {"program_ref": ref})
    running = server("--allow-ref-host", "127.0.0.1")
    client = running.client()
    with pytest.raises(ClientError, match=r"'program_ref': could not fetch \S+ \(HTTP 400\)$"):
        client.call("POST", "/task", {"program_ref": url + ".missing"})
    task = client.call("POST", "/task", {"program_ref": url})
    assert task["name"] == "exitsnoop" and task["status"] == "running"
    client.call("POST", "/stop", {"id": task["id"]})
    with pytest.raises(ClientError, match="expected an http.s. URL or an image reference"):
        client.call("POST", "/task", {"program_ref": "/etc/passwd"})
    with pytest.raises(ClientError, match="give one of 'program_data_buf'"):
        client.call("POST", "/task", {})
    with pytest.raises(ClientError, match="HTTP 404"):
        client.call("GET", "/fleet")


def test_streams_give_their_slot_back_when_the_client_leaves(server, exitsnoop_package):
    """On a quiet task (exits of pid 1 only), 16 streams opened, read and closed leave
    room for 16 more; 40 long polls in flight leave /health and /task answering."""
    from eunomia.server.stream import MAX_STREAMS
    running = server()
    client = running.client()
    task = client.call("POST", "/task", start_body(exitsnoop_package, "--filter", "pid==1"))
    url = f"{running.url}/task/{task['id']}/events"
    for _ in range(2):
        for _ in range(MAX_STREAMS):
            with requests.get(url, stream=True, timeout=30) as response:
                assert response.status_code == 200
                next(response.iter_content(16))       # the stream started
        # each one's slot is back once the server sees the client gone (its next poll)
        wait_until(lambda: _stream_opens(url), 10, what="the streams' slots to come back")
    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(40) as pool:
        polls = [pool.submit(requests.post, f"{running.url}/log",
                             json={"id": task["id"], "log_cursor": 10**6, "wait_ms": 10_000},
                             timeout=60) for _ in range(40)]
        port = running.url.rsplit(":", 1)[1]
        wait_until(lambda: _connections_to(port) >= 40, 30, 0.05,
                   what="40 long polls connected")
        assert requests.get(f"{running.url}/health", timeout=5).status_code == 200
        assert client.call("GET", "/task")["tasks"][0]["id"] == task["id"]
        assert sum(not p.done() for p in polls) == 40     # still waiting: not starved
    client.call("POST", "/stop", {"id": task["id"]})


def _connections_to(port: str) -> int:
    listing = subprocess.run(["ss", "-Htn", "state", "established", f"( dport = :{port} )"],
                             capture_output=True, text=True, check=True).stdout
    return len(listing.splitlines())


def _stream_opens(url: str) -> bool:
    with requests.get(url, stream=True, timeout=30) as response:
        return response.status_code == 200
