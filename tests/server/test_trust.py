"""What a remote client cannot make the server do: read its files through flags, make it
buffer bodies without the token, or keep it from stopping."""

from __future__ import annotations

import signal
import socket
import threading

import pytest
import requests

from eunomia.cli.client import ClientError
from tests.kernel.conftest import wait_until

from .conftest import RunningServer, pytestmark, start_body  # noqa: F401
from .test_views_and_stream import _connections_to


@pytest.mark.parametrize("flags", [["--btf", "/etc/shadow"], ["--btf", "/dev/zero"],
                                   ["--binary", "/etc/passwd"], ["--btf=/nonexistent"]])
def test_flags_naming_server_paths_are_refused_alike(server, exitsnoop_package, flags):
    """The same answer whether the file exists or not: nothing is learnt, nothing read."""
    client = server().client()
    with pytest.raises(ClientError, match=f"{flags[0].split('=')[0]} names a path on the "
                                          "server: not available to remote clients"):
        client.call("POST", "/task", start_body(exitsnoop_package, *flags))


def test_the_token_is_checked_before_the_body_is_read(server, tmp_path):
    token = tmp_path / "token"
    token.write_text("body-token")
    running = server("--token-file", token)
    host, port = running.url.split("//", 1)[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        # announces 16 MB and sends none of it: the answer comes at once
        sock.sendall(b"POST /task HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                     b"application/json\r\nContent-Length: 16000000\r\n\r\n")
        reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 401 "), reply


def test_sigterm_stops_the_server_while_requests_wait(exitsnoop_package):
    """Long polls waiting 30 s and an open event stream do not hold a stop."""
    running = RunningServer()
    client = running.client()
    task = client.call("POST", "/task", start_body(exitsnoop_package, "--filter", "pid==1"))
    polls = [threading.Thread(target=_quietly, args=(
        requests.post, f"{running.url}/log"), kwargs={
            "json": {"id": task["id"], "log_cursor": 10**6, "wait_ms": 30_000},
            "timeout": 60}, daemon=True) for _ in range(8)]
    stream = threading.Thread(target=_quietly, args=(
        _read_stream, f"{running.url}/task/{task['id']}/events"), daemon=True)
    for thread in [*polls, stream]:
        thread.start()
    port = running.url.rsplit(":", 1)[1]
    wait_until(lambda: _connections_to(port) >= 9, 30, 0.05,
               what="the long polls and the stream connected")
    running.proc.send_signal(signal.SIGTERM)
    # well before the long polls' 30 s: requests in flight get 1 s, then are cancelled
    assert running.proc.wait(timeout=15) == 0


def _read_stream(url: str) -> None:
    with requests.get(url, stream=True, timeout=60) as response:
        for _ in response.iter_content(64):
            pass


def _quietly(function, *args, **kwargs) -> None:
    try:
        function(*args, **kwargs)
    except requests.RequestException:
        pass        # the server went away: expected here
