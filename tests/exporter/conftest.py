"""A real eunomia-exporter (a subprocess on loopback, port 0), its packages, a metrics
scraper, and Debian's Prometheus server pointed at it."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request

import pytest
import yaml

from tests.cli.conftest import EXPORTER, ROOT, compile_package
from tests.kernel.conftest import needs_bpftool, needs_btf, needs_clang, needs_root, wait_until
from tests.service import ServiceProcess, free_ports

pytestmark = [needs_root, needs_btf, needs_clang, needs_bpftool]



@pytest.fixture(scope="session")
def packages(tmp_path_factory) -> dict:
    """name -> compiled package.json path, for opensnoop, exitsnoop and syscall_latency."""
    out = tmp_path_factory.mktemp("exporter-packages")
    return {name: compile_package(ROOT / f"examples/{name}/{name}.bpf.c", out / name)
            for name in ("opensnoop", "exitsnoop", "syscall_latency")}


def write_config(path, programs: list[dict]):
    path.write_text(yaml.safe_dump({"programs": programs}))
    return path


class RunningExporter(ServiceProcess):
    def __init__(self, config, *args: str):
        super().__init__([*EXPORTER, "-c", str(config), "--listen", "127.0.0.1:0",
                          *map(str, args)], r"serving (\S+)/metrics", "the exporter")

    def request(self, method: str, path: str, body=None, token: str | None = None):
        """(HTTP status, body text)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                return reply.status, reply.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def metrics(self, token: str | None = None) -> str:
        status, text = self.request("GET", "/metrics", token=token)
        assert status == 200, text
        return text

    def value(self, name: str, token: str | None = None, **labels) -> float | None:
        """The sample `name{labels...}` (labels matched as a subset), or None."""
        return sample(self.metrics(token), name, **labels)


def parse_samples(text: str) -> list[tuple[str, dict, float]]:
    from prometheus_client.parser import text_string_to_metric_families
    return [(s.name, s.labels, s.value) for family in text_string_to_metric_families(text)
            for s in family.samples]


def sample(text: str, name: str, **labels) -> float | None:
    for found, found_labels, value in parse_samples(text):
        if found == name and all(found_labels.get(k) == str(v) for k, v in labels.items()):
            return value
    return None


@pytest.fixture
def exporter():
    """exporter(config, *args) -> a running eunomia-exporter; stopped after the test."""
    started: list[RunningExporter] = []

    def start(config, *args) -> RunningExporter:
        running = RunningExporter(config, *args)
        started.append(running)
        return running
    yield start
    for running in started:
        running.stop()


class PrometheusServer:
    """Debian's prometheus on loopback, scraping `target` every second."""

    def __init__(self, workdir, target: str):
        self.port = free_ports()[0]
        config = workdir / "prometheus.yml"
        config.write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": "eunomia", "static_configs":
                                [{"targets": [target]}]}]}))
        self.log = open(workdir / "prometheus.log", "w")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [shutil.which("prometheus"), f"--config.file={config}",
             f"--storage.tsdb.path={workdir / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(self._ready, 60, 0.2, what="prometheus to be ready")

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError("prometheus exited; see its log")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready",
                                        timeout=5) as reply:
                return reply.status == 200
        except OSError:
            return False

    def query(self, promql: str) -> list:
        url = (f"http://127.0.0.1:{self.port}/api/v1/query?"
               + urllib.parse.urlencode({"query": promql}))
        with urllib.request.urlopen(url, timeout=10) as reply:
            answer = json.load(reply)
        assert answer["status"] == "success", answer
        return answer["data"]["result"]

    def scalar(self, promql: str) -> float | None:
        result = self.query(promql)
        return float(result[0]["value"][1]) if result else None

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture
def prometheus(tmp_path):
    if shutil.which("prometheus") is None:
        pytest.skip("Debian's prometheus package is not installed (scripts/setup installs it)")
    started: list[PrometheusServer] = []

    def start(target: str) -> PrometheusServer:
        server = PrometheusServer(tmp_path, target)
        started.append(server)
        return server
    yield start
    for server in started:
        server.stop()
