"""Hostile HTTP clients against `ecli server`: request smuggling through a chunked body,
huge numbers, bodies that never finish, and 200 clients at once all get answers."""

from __future__ import annotations

import json
import socket
import threading
from urllib.parse import urlsplit


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=30)


def _read_replies(sock: socket.socket) -> bytes:
    """What the server sends: up to 30 s for the first bytes (a loaded machine), then
    until it closes or is quiet for 3 s (time for any extra reply to show)."""
    sock.settimeout(30)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            sock.settimeout(3)
    except TimeoutError:
        pass
    return data


def test_a_chunked_body_is_a_body_not_a_second_request(server):
    running = server()
    smuggled = b"GET /task HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    chunk = b"%x\r\n%s\r\n0\r\n\r\n" % (len(smuggled), smuggled)
    with _connect(running.url) as sock:
        sock.sendall(b"POST /log HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunk)
        replies = _read_replies(sock)
    assert replies.count(b"HTTP/1.1 ") == 1, replies
    assert replies.startswith(b"HTTP/1.1 400 ")
    assert b'"tasks"' not in replies
    assert b"the body is not JSON" in replies


def test_a_five_thousand_digit_number_gets_a_quick_400(server):
    running = server()
    body = b'{"id": ' + b"9" * 5000 + b"}"
    with _connect(running.url) as sock:
        sock.sendall(b"POST /stop HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
        replies = _read_replies(sock)
    assert replies.startswith(b"HTTP/1.1 400 "), replies[:200]
    assert json.loads(replies.split(b"\r\n\r\n", 1)[1])["error"]


def test_a_body_shorter_than_its_length_holds_nobody_else(server):
    running = server()
    stalled = _connect(running.url)
    try:
        stalled.sendall(b"POST /task HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        b"Content-Length: 1000\r\n\r\n{\"program")
        assert running.client().call("GET", "/task", timeout=10) == {"tasks": []}
    finally:
        stalled.close()


def test_two_hundred_clients_at_once_are_all_answered(server):
    running = server()
    answers, errors = [], []

    def ask():
        try:
            answers.append(running.client().call("GET", "/health", timeout=60))
        except Exception as exc:  # noqa: BLE001 (collected and shown below)
            errors.append(repr(exc))
    threads = [threading.Thread(target=ask) for _ in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert answers == [{"status": "ok"}] * 200


def test_errors_are_one_line_json(server):
    running = server()
    for request in (b"GET /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                    b"DELETE /task HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"):
        with _connect(running.url) as sock:
            sock.sendall(request)
            reply = _read_replies(sock)
        status = int(reply.split(b" ", 2)[1])
        assert status in (404, 405)
        assert list(json.loads(reply.split(b"\r\n\r\n", 1)[1])) == ["error"]
