"""A real `ecli server` on loopback, started per test, and packages to push to it."""

from __future__ import annotations

import base64

import pytest

from eunomia.cli.client import Client
from tests.cli.conftest import (  # noqa: F401  (fixtures shared with the CLI tests)
    ECLI,
    ROOT,
    build_dir,
    compile_package,
    example_package,
    http_server,
)
from tests.kernel.conftest import needs_bpftool, needs_btf, needs_clang, needs_root
from tests.service import ServiceProcess

pytestmark = [needs_root, needs_btf, needs_clang, needs_bpftool]



class RunningServer(ServiceProcess):
    def __init__(self, *args: str):
        super().__init__([*ECLI, "server", "--port", "0", *args], r"listening on (\S+)",
                         "the server")

    def client(self, token: str | None = None, cafile: str | None = None) -> Client:
        return Client(self.url, token, cafile)


@pytest.fixture
def server():
    """server(*args) -> a running `ecli server --port 0 ARGS`; stopped after the test."""
    started: list[RunningServer] = []

    def start(*args: str) -> RunningServer:
        running = RunningServer(*map(str, args))
        started.append(running)
        return running
    yield start
    for running in started:
        running.stop()


@pytest.fixture(scope="session")
def exitsnoop_package(tmp_path_factory) -> bytes:
    out = tmp_path_factory.mktemp("server-packages")
    return compile_package(ROOT / "examples/exitsnoop/exitsnoop.bpf.c",
                           out / "exitsnoop").read_bytes()


def start_body(package: bytes, *args: str, **fields) -> dict:
    return {"program_data_buf": base64.b64encode(package).decode(), "program_type": "json",
            "extra_args": list(args), **fields}
