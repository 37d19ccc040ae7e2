"""A real OTLP/HTTP logs receiver on loopback: it decodes each request with
opentelemetry-proto, as a collector does."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.cli.conftest import build_dir, example_package, fixture_package  # noqa: F401


def otlp_handler(message: str, take):
    """An HTTP handler class answering OTLP/HTTP as a collector does: each POST's body
    parsed as `message` (e.g. "logs.v1.logs_service_pb2.ExportLogsServiceRequest", under
    opentelemetry.proto.collector) and handed to take(request, path)."""
    module, _, name = message.rpartition(".")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            import importlib
            kind = getattr(importlib.import_module(
                f"opentelemetry.proto.collector.{module}"), name)
            request = kind()
            request.ParseFromString(self.rfile.read(int(self.headers.get("Content-Length",
                                                                          0))))
            take(request, self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass
    return Handler


def _value(any_value):
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


class Receiver:
    """Log records received, each as {"body", "severity", "attributes", "resource"}."""

    def __init__(self):
        self.records: list[dict] = []
        self.requests = 0
        handler = otlp_handler("logs.v1.logs_service_pb2.ExportLogsServiceRequest", self.take)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
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
