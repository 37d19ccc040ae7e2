"""A real OTLP/HTTP logs receiver on loopback: it decodes each request with
opentelemetry-proto, as a collector does."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.cli.conftest import build_dir, example_package, fixture_package  # noqa: F401


def _value(any_value):
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


class Receiver:
    """Log records received, each as {"body", "severity", "attributes", "resource"}."""

    def __init__(self):
        self.records: list[dict] = []
        self.requests = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
                    ExportLogsServiceRequest,
                )
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                request = ExportLogsServiceRequest()
                request.ParseFromString(body)
                receiver.take(request, self.path)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/logs"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def take(self, request, path: str) -> None:
        self.requests += 1
        for resource_logs in request.resource_logs:
            resource = {kv.key: _value(kv.value) for kv in resource_logs.resource.attributes}
            for scope_logs in resource_logs.scope_logs:
                for record in scope_logs.log_records:
                    self.records.append({
                        "path": path, "body": _value(record.body),
                        "severity": record.severity_text,
                        "severity_number": record.severity_number,
                        "time_ns": record.time_unix_nano,
                        "attributes": {kv.key: _value(kv.value) for kv in record.attributes},
                        "resource": resource})

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    started = Receiver()
    yield started
    started.stop()
