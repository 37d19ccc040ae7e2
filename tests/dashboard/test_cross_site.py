"""A web page on another origin must not start anything through a token-less server on
loopback: cross-site fetches and form posts are refused before any handler runs (in a
real browser), and so are DNS-rebinding Hosts and bodies that are not JSON (by hand)."""

from __future__ import annotations

import base64
import http.client
import http.server
import json
import threading

import pytest

from tests.dashboard.conftest import needs_browser
from tests.kernel.conftest import needs_root, wait_until
from tests.server.conftest import RunningServer, start_body

pytestmark = [needs_root, needs_browser]

ATTACK = """<!doctype html><title>attack</title>
<iframe name="sink"></iframe>
<form id="form" method="POST" enctype="text/plain" target="sink" action="{url}/task">
<input name='{{"program_data_buf":"{package}","program_type":"json","extra_args":[],"x":"'
 value='"}}'></form>
<script>
const body = JSON.stringify({{program_data_buf: "{package}", program_type: "json"}});
const tries = [
  fetch("{url}/task", {{method: "POST", mode: "no-cors", body}}),
  fetch("{url}/task", {{method: "POST", mode: "no-cors", body,
                         headers: {{"Content-Type": "text/plain"}}}}),
  fetch("{url}/task", {{method: "POST", mode: "no-cors", body: new Blob([body])}}),
];
Promise.allSettled(tries).then(() => {{
  document.querySelector("iframe").onload = () => {{ document.title = "done"; }};
  document.getElementById("form").submit();
}});
</script>"""


def serve_page(html: str) -> tuple[http.server.HTTPServer, str]:
    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass
    # 127.0.0.2: another origin than the server's 127.0.0.1 (another host, too)
    page = http.server.HTTPServer(("127.0.0.2", 0), Page)
    threading.Thread(target=page.serve_forever, daemon=True).start()
    return page, f"http://127.0.0.2:{page.server_address[1]}/"


def test_a_page_on_another_origin_cannot_start_a_task(browser, exitsnoop_package):
    server = RunningServer()
    try:
        package = base64.b64encode(exitsnoop_package).decode()
        page, page_url = serve_page(ATTACK.format(url=server.url, package=package))
        try:
            browser.get(page_url)
            wait_until(lambda: browser.title == "done", 30, 0.1,
                       what="the page's requests and form post to finish")
        finally:
            page.shutdown()
        assert server.client().call("GET", "/task")["tasks"] == []
    finally:
        server.stop()


def test_a_server_with_a_token_answers_to_any_name(exitsnoop_package, tmp_path):
    """Clients reach a server with a token by DNS names (TLS certificates, Prometheus
    targets): the Host check guards token-less, loopback-only servers; with a token, a
    rebinding page has no token to send."""
    token = tmp_path / "token"
    token.write_text("names-token")
    server = RunningServer("--token-file", token)
    try:
        answered, _ = _post(server.url, "/stop", b'{"id": 1}', {
            "Host": "ebpf.example.internal:8527", "Content-Type": "application/json",
            "Authorization": "Bearer names-token"})
        assert answered == 404          # past the guard: there is no task 1
        answered, error = _post(server.url, "/stop", b'{"id": 1}', {
            "Host": "ebpf.example.internal:8527", "Content-Type": "application/json",
            "Origin": "http://evil.example", "Authorization": "Bearer names-token"})
        assert answered == 403 and "other origins" in error
    finally:
        server.stop()


def _post(url: str, path: str, body: bytes, headers: dict) -> tuple[int, str]:
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.putrequest("POST", path, skip_host=True)
        for name, value in {"Content-Length": str(len(body)), **headers}.items():
            connection.putheader(name, value)
        connection.endheaders(body)
        reply = connection.getresponse()
        return reply.status, json.loads(reply.read() or b"{}").get("error", "")
    finally:
        connection.close()


@pytest.mark.parametrize("headers, status, message", [
    ({"Host": "127.0.0.1", "Content-Type": "text/plain"}, 415, "must be JSON"),
    ({"Host": "127.0.0.1"}, 415, "must be JSON"),
    ({"Host": "127.0.0.1", "Content-Type": "application/json",
      "Origin": "http://evil.example"}, 403, "other origins"),
    ({"Host": "127.0.0.1", "Content-Type": "application/json", "Origin": "null"}, 403,
     "other origins"),
    ({"Host": "evil.example", "Content-Type": "application/json"}, 403, "Host header"),
    ({"Host": "evil.example:8527", "Content-Type": "application/json"}, 403, "Host header"),
])
def test_cross_site_requests_are_refused_before_a_handler(exitsnoop_package, headers,
                                                          status, message):
    server = RunningServer()
    try:
        body = json.dumps(start_body(exitsnoop_package)).encode()
        answered, error = _post(server.url, "/task", body, headers)
        assert answered == status and message in error
        assert server.client().call("GET", "/task")["tasks"] == []
    finally:
        server.stop()
