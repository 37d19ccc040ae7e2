"""`ecli server` and `ecli client` with real packages: tasks whose events the test causes,
read back through the log with cursors; pause, resume, hot replace, stop, shutdown; auth,
TLS and bad requests."""

from __future__ import annotations

import http.client
import json
import subprocess
from urllib.parse import urlsplit

import pytest

from eunomia.cli.client import ClientError
from tests.kernel.conftest import exit_child, loaded_program_ids, wait_until
from tests.server.conftest import ECLI, start_body

EXITSNOOP_PROGRAMS = ["handle_exit"]


class LogReader:
    """Pages through a task's log with cursors, checking none is seen twice or skipped."""

    def __init__(self, client, task_id: int, page: int = 3):
        self.client, self.task_id, self.page = client, task_id, page
        self.cursor = 0
        self.entries: list[dict] = []

    def read(self) -> list[dict]:
        reply = self.client.call("POST", "/log", {"id": self.task_id,
                                                  "log_cursor": self.cursor,
                                                  "maximum_count": self.page})
        for entry in reply["log"]:
            assert entry["cursor"] == self.cursor, "an entry was skipped or repeated"
            self.cursor += 1
            self.entries.append(entry)
        return reply["log"]

    def events(self) -> list[dict]:
        return [json.loads(e["text"]) for e in self.entries if e["kind"] == "event"]

    def wait_pid(self, pid: int, timeout: float = 15) -> dict:
        def seen():
            self.read()
            return next((ev for ev in self.events() if ev["pid"] == pid), None)
        return wait_until(seen, timeout, what=f"pid {pid} in the task log")


def test_task_lifecycle(server, exitsnoop_package):
    before = loaded_program_ids(EXITSNOOP_PROGRAMS)
    running = server()
    client = running.client()
    started = client.call("POST", "/task", start_body(exitsnoop_package, export_json=True))
    task_id = started["id"]
    assert started["status"] == "running" and started["name"] == "exitsnoop"
    assert client.call("GET", "/task")["tasks"][0]["id"] == task_id

    log = LogReader(client, task_id)
    pids = {exit_child(code): code for code in (3, 4, 5)}
    for pid, code in pids.items():
        assert log.wait_pid(pid)["exit_code"] == code

    assert client.call("POST", "/pause", {"id": task_id})["status"] == "paused"
    while_paused = exit_child(6)
    assert client.call("POST", "/resume", {"id": task_id})["status"] == "running"
    after = exit_child(7)
    log.wait_pid(after)
    assert while_paused not in {ev["pid"] for ev in log.events()}

    # hot update: the new task attaches before the old one stops
    new = client.call("POST", "/task", start_body(exitsnoop_package, export_json=True,
                                                  replace=task_id))
    assert new["replaced"] == task_id
    LogReader(client, new["id"]).wait_pid(exit_child(8))

    def statuses():
        return {t["id"]: t["status"] for t in client.call("GET", "/task")["tasks"]}
    wait_until(lambda: statuses() == {task_id: "stopped", new["id"]: "running"}, 15,
               what="the replaced task to stop")

    assert client.call("POST", "/stop", {"id": new["id"]})["status"] == "stopped"
    assert loaded_program_ids(EXITSNOOP_PROGRAMS) == before


def test_shutdown_stops_every_task(server, exitsnoop_package):
    before = loaded_program_ids(EXITSNOOP_PROGRAMS)
    running = server()
    client = running.client()
    for _ in range(2):
        client.call("POST", "/task", start_body(exitsnoop_package))
    assert len(loaded_program_ids(EXITSNOOP_PROGRAMS) - before) == 2
    assert running.stop() == 0
    assert loaded_program_ids(EXITSNOOP_PROGRAMS) == before


def test_auth(server, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token\n")
    running = server("--token-file", token_file)
    with pytest.raises(ClientError, match="HTTP 401"):
        running.client().call("GET", "/task")
    with pytest.raises(ClientError, match="HTTP 401"):
        running.client("wrong").call("GET", "/task")
    assert running.client("s3cret-token").call("GET", "/task") == {"tasks": []}
    assert running.client().call("GET", "/health") == {"status": "ok"}


def test_no_token_beyond_loopback_refuses_to_start():
    result = subprocess.run([*ECLI, "server", "--addr", "0.0.0.0", "--port", "0"],
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("ecli: error: refusing to listen on 0.0.0.0 without")
    assert len(result.stderr.strip().splitlines()) == 1


def raw_post(url: str, path: str, body: bytes) -> tuple[int, dict]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("POST", path, body, {"Content-Type": "application/json"})
        reply = conn.getresponse()
        return reply.status, json.loads(reply.read() or b"{}")
    finally:
        conn.close()


def test_bad_requests_get_clear_4xx_and_the_server_stays_up(server, exitsnoop_package):
    running = server("--body-limit", 4096)
    url = running.url
    cases = [
        (b"{not json", 400, "not JSON"),
        (json.dumps({"program_data_buf": "%%%not base64%%%"}).encode(), 400, "not base64"),
        (json.dumps({"program_data_buf": "aGVsbG8"}).encode(), 400, "package"),
        (json.dumps({"program_data_buf": "e30="}).encode(), 400, "package"),
        (json.dumps({"program_data_buf": "e30=", "nope": 1}).encode(), 400, "unknown field"),
        (json.dumps(start_body(exitsnoop_package)).encode(), 413, "limit is 4096"),
    ]
    for body, status, words in cases:
        got, reply = raw_post(url, "/task", body)
        assert (got, words in reply.get("error", "")) == (status, True), (got, reply)
    assert raw_post(url, "/stop", b'{"id": 99}')[0] == 404
    assert raw_post(url, "/stop", b'{"id": "x"}')[0] == 400
    assert running.client().call("GET", "/health") == {"status": "ok"}


def test_a_failing_package_fails_its_request_only(server, tmp_path):
    from tests.cli.conftest import FIXTURES, compile_package
    rejected = compile_package(FIXTURES / "verifier_reject.bpf.c", tmp_path)
    running = server()
    got, reply = raw_post(running.url, "/task",
                          json.dumps(start_body(rejected.read_bytes())).encode())
    assert got == 422 and "verifier" in reply["error"]
    assert running.client().call("GET", "/task") == {"tasks": []}
    got, reply = raw_post(running.url, "/task", json.dumps(
        start_body(rejected.read_bytes(), "--no-such-flag")).encode())
    assert got == 400 and "--no-such-flag" in reply["error"]
    # output settings are checked before the load: the verifier never sees it
    got, reply = raw_post(running.url, "/task", json.dumps(
        start_body(rejected.read_bytes(), "--fields", "nosuch")).encode())
    assert got == 400 and "--fields names no field 'nosuch'" in reply["error"], reply


@pytest.mark.parametrize("args, named", [
    (("--fields", "pid,nosuch"), "nosuch"),
    (("--filter", "nosuch==1"), "nosuch"),
    (("--format", "pid=bogus"), "bogus"),
    (("--stacks", "folded"), "stack field"),
    (("--record-type", "nomap=event"), "nomap"),
])
def test_bad_output_settings_are_a_400_before_anything_loads(server, exitsnoop_package,
                                                             args, named):
    """The same checks as `ecli run`, made before the package is loaded: nothing of it
    reaches the kernel, and no task is made."""
    from tests.kernel.conftest import held_program_ids
    running = server()
    got, reply = raw_post(running.url, "/task",
                          json.dumps(start_body(exitsnoop_package, *args)).encode())
    assert got == 400 and named in reply["error"], (got, reply)
    assert running.client().call("GET", "/task") == {"tasks": []}
    assert not held_program_ids(running.proc.pid, ["handle_exit"])


def test_client_command_line(server, exitsnoop_package, tmp_path):
    package = tmp_path / "package.json"
    package.write_bytes(exitsnoop_package)
    running = server()

    def client(*args):
        return subprocess.run([*ECLI, "client", "-e", running.url, *map(str, args)],
                              capture_output=True, text=True, timeout=60, check=False)
    started = client("--json", "start", "--export-json", package)
    assert started.returncode == 0, started.stderr
    task_id = json.loads(started.stdout)["id"]
    pid = exit_child(9)
    wait_until(lambda: f'"pid":{pid},' in client("log", task_id).stdout, 15,
               what="the exit in `ecli client log`")
    assert f"{task_id}" in client("list").stdout.splitlines()[1]
    follower = subprocess.Popen([*ECLI, "client", "-e", running.url, "log", str(task_id),
                                 "-f"], stdout=subprocess.PIPE, text=True)
    assert client("stop", task_id, "--json").stdout.strip().startswith("{")
    followed, _ = follower.communicate(timeout=30)     # -f ends when the task stops
    assert follower.returncode == 0
    assert f'"pid":{pid},' in followed and followed.rstrip().endswith("[info] stopped")
    missing = client("stop", 42)
    assert missing.returncode == 1
    assert missing.stderr.strip() == "ecli: error: server: no task with id 42 (HTTP 404)"
    unreachable = subprocess.run([*ECLI, "client", "-e", "http://127.0.0.1:1", "list"],
                                 capture_output=True, text=True, timeout=60, check=False)
    assert unreachable.returncode == 1
    assert unreachable.stderr.startswith("ecli: error: cannot reach http://127.0.0.1:1")


def test_tls(server, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
                    "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True,
                   timeout=60)
    running = server("--tls-cert", cert, "--tls-key", key)
    assert running.url.startswith("https://")
    assert running.client(cafile=str(cert)).call("GET", "/task") == {"tasks": []}
    with pytest.raises(ClientError, match="cannot reach"):
        running.client().call("GET", "/task")       # not trusted without the CA


def test_fuzzed_requests_never_get_a_5xx(server):
    """Property-based requests built from the OpenAPI document (schemathesis)."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    running = server()
    schema = schemathesis.openapi.from_url(running.url + "/openapi.json")
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=25, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case):
            response = case.call(base_url=running.url)
            assert response.status_code < 500, (case.method, case.path, response.text)
        check()
    assert running.client().call("GET", "/health") == {"status": "ok"}


def test_the_client_shows_what_the_server_sends_with_controls_escaped(server, exitsnoop_package,
                                                                      tmp_path):
    """Task names and log lines come from whoever started the task (a module's file
    name, a guest's output): `ecli client` shows their control characters escaped."""
    package = tmp_path / "package.json"
    package.write_bytes(exitsnoop_package)
    running = server()
    hostile = "exits\x1b]0;pwned\x07\x1b[2J"

    def client(*args):
        return subprocess.run([*ECLI, "client", "-e", running.url, *map(str, args)],
                              capture_output=True, text=True, timeout=60, check=False)
    started = client("start", "--name", hostile, package)
    assert started.returncode == 0, started.stderr
    listed = client("list")
    for shown in (started.stdout, listed.stdout):
        assert "\x1b" not in shown and "\x07" not in shown
        assert "exits\\x1b]0;pwned\\x07" in shown, shown
    json_list = json.loads(client("--json", "list").stdout)
    assert json_list["tasks"][0]["name"] == hostile


def test_flags_and_names_that_are_not_unicode_are_a_400(server, exitsnoop_package):
    """JSON can carry a lone surrogate: as a flag it used to be a 500 with a traceback."""
    running = server()
    client = running.client()
    for fields in ({"extra_args": ["\ud800"]}, {"program_name": "x\udcff"},
                   {"program_name": "n" * 300}):
        with pytest.raises(ClientError, match="HTTP 400"):
            client.call("POST", "/task", start_body(exitsnoop_package, **fields))
    assert client.call("GET", "/task") == {"tasks": []}
