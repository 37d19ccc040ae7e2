"""Shared pieces of the end-to-end tests: compiled examples and a running `ecli` process."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SCRIPTS = Path(sysconfig.get_path("scripts"))


def installed_command(name: str, module: str) -> list[str]:
    """The installed command (bin/'s launcher, by scripts/setup), as a user runs it; the
    module when it is not installed (test_ctrl_c checks that it is)."""
    launcher = SCRIPTS / name
    return [sys.executable, str(launcher)] if launcher.exists() else \
        [sys.executable, "-m", module]


ECLI = installed_command("ecli", "eunomia.cli.ecli")
ECC = installed_command("ecc", "eunomia.cli.ecc")
EXPORTER = installed_command("eunomia-exporter", "eunomia.cli.exporter")

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="loading BPF programs needs root")
needs_clang = pytest.mark.skipif(shutil.which("clang") is None,
                                 reason="compiling examples needs clang (./scripts/setup)")


def wait_until(condition, timeout: float = 10.0, interval: float = 0.05, what: str = ""):
    """Polls `condition` until it returns something truthy; fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(interval)


def compile_package(source: Path, outdir: Path, *extra: str) -> Path:
    """Runs `ecc` on `source` into `outdir`, returning the package path."""
    outdir.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([*ECC, str(source), *extra, "-o", str(outdir)],
                            capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, f"ecc {source.name} failed:\n{result.stderr}"
    return outdir / "package.json"


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("packages")


@pytest.fixture(scope="session")
def example_package(build_dir):
    """Compiles an example once per session: example_package("exitsnoop")."""
    built: dict[str, Path] = {}

    def build(name: str) -> Path:
        if name not in built:
            built[name] = compile_package(EXAMPLES / name / f"{name}.bpf.c", build_dir / name)
        return built[name]
    return build


@pytest.fixture(scope="session")
def fixture_package(build_dir):
    """Compiles a BPF fixture of tests/cli/fixtures once per session."""
    built: dict[str, Path] = {}

    def build(name: str) -> Path:
        if name not in built:
            built[name] = compile_package(FIXTURES / f"{name}.bpf.c",
                                          build_dir / f"fixture-{name}")
        return built[name]
    return build


class Ecli:
    """A running `ecli run` (or another `command`): its stdout lines are collected in the
    background."""

    def __init__(self, args: list[str], prefix: tuple[str, ...] = (),
                 command: list[str] | None = None):
        self.args = args
        command = [*ECLI, "run"] if command is None else command
        self.proc = subprocess.Popen([*prefix, *command, *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1)
        self.lines: list[str] = []
        self.errors: list[str] = []
        self._threads = [threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines),
                                          daemon=True),
                         threading.Thread(target=self._pump, args=(self.proc.stderr, self.errors),
                                          daemon=True)]
        for thread in self._threads:
            thread.start()

    def _pump(self, stream, into: list[str]) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))

    def wait_attached(self, timeout: float = 30.0) -> None:
        def attached():
            if self.proc.poll() is not None:
                self.join()
                raise AssertionError(f"ecli exited with {self.proc.returncode}: "
                                     + "\n".join(self.errors))
            return any("attached" in line for line in self.errors)
        wait_until(attached, timeout, what="ecli to attach")

    def json_events(self) -> list[dict]:
        return [json.loads(line) for line in list(self.lines) if line.startswith("{")]

    def wait_event(self, predicate, timeout: float = 15.0, what: str = "an event") -> dict:
        def found():
            for event in self.json_events():
                if predicate(event):
                    return event
            if self.proc.poll() is not None:
                raise AssertionError(f"ecli exited early ({self.proc.returncode}): "
                                     + "\n".join(self.errors))
            return None
        return wait_until(found, timeout, what=what)

    def wait_line(self, predicate, timeout: float = 15.0, what: str = "a line") -> str:
        return wait_until(lambda: next((ln for ln in list(self.lines) if predicate(ln)), None),
                          timeout, what=what)

    def stop(self, sig=signal.SIGINT, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"ecli did not stop within {timeout}s after {sig!r}")
        self.join()
        return self.proc.returncode

    def join(self) -> None:
        for thread in self._threads:
            thread.join(timeout=5)


@pytest.fixture
def ecli():
    """Starts `ecli run ARGS...` (or `command` ARGS...); every process started is stopped
    at the end of the test."""
    started: list[Ecli] = []

    def start(*args: str, prefix: tuple[str, ...] = (),
              command: list[str] | None = None) -> Ecli:
        proc = Ecli([str(a) for a in args], prefix, command)
        started.append(proc)
        return proc
    yield start
    for proc in started:
        if proc.proc.poll() is None:
            proc.stop(signal.SIGKILL)


def run_ecli(*args, timeout: float = 60.0, stdin: bytes | None = None,
             prefix: tuple[str, ...] = ()):
    """Runs `PREFIX... ecli ARGS...` to completion; returns the CompletedProcess (text).

    `prefix` wraps the command, e.g. with setpriv to drop privileges.
    """
    return subprocess.run([*prefix, *ECLI, *map(str, args)], capture_output=True,
                          timeout=timeout, input=stdin.decode() if stdin else None,
                          text=True, check=False)


def one_error_line(result, *fragments: str) -> str:
    """Exit 1 and exactly one line on stderr, `ecli: error: ...` holding every fragment,
    no traceback; returns the line."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("ecli: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def bpf_program_names() -> set[str]:
    """Names of every BPF program loaded in the kernel now."""
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True,
                         check=True).stdout
    return {p.get("name", "") for p in json.loads(out or "[]")}


@pytest.fixture
def http_server():
    """Serves bytes on 127.0.0.1: http_server(body) -> URL; stopped after the test."""
    servers = []

    def serve(body: bytes, path: str = "/package.json") -> str:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path != path:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}{path}"
    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()
