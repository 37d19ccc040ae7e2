"""A real `ecli server` on loopback, started per test, and packages to push to it."""

from __future__ import annotations

import base64
import re
import signal
import subprocess
import sys
import threading

import pytest

from eunomia.cli.client import Client
from tests.cli.conftest import ROOT, compile_package
from tests.kernel.conftest import needs_bpftool, needs_btf, needs_clang, needs_root, wait_until

pytestmark = [needs_root, needs_btf, needs_clang, needs_bpftool]

ECLI = [sys.executable, "-m", "eunomia.cli.ecli"]


class RunningServer:
    def __init__(self, *args: str):
        self.proc = subprocess.Popen([*ECLI, "server", "--port", "0", *args],
                                     stderr=subprocess.PIPE, text=True)
        self.errors: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        found = wait_until(lambda: self._url() or self._exited(), 30, what="the server")
        if found is True:
            raise AssertionError("server exited: " + "\n".join(self.errors))
        self.url = found

    def _pump(self) -> None:
        for line in self.proc.stderr:
            self.errors.append(line.rstrip("\n"))

    def _url(self):
        for line in list(self.errors):
            match = re.search(r"listening on (\S+)", line)
            if match:
                return match.group(1)
        return None

    def _exited(self) -> bool:
        return self.proc.poll() is not None

    def client(self, token: str | None = None, cafile: str | None = None) -> Client:
        return Client(self.url, token, cafile)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


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
