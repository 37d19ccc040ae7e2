"""A real etcd on loopback (Debian's etcd-server): one member, or a cluster of three; and
fleet agents (`ecli server --fleet`) started as processes."""

from __future__ import annotations

import signal
import subprocess

import pytest

from eunomia.cli.client import Client
from tests.cli.conftest import (  # noqa: F401  (fixtures)
    ECLI,
    build_dir,
    example_package,
    fixture_package,
)
from tests.etcd import ETCD, Etcd
from tests.kernel.conftest import needs_bpftool, needs_btf, needs_clang, needs_root
from tests.service import ServiceProcess

pytestmark = [needs_root, needs_btf, needs_clang, needs_bpftool,
              pytest.mark.skipif(ETCD is None, reason="etcd is not installed (./scripts/setup "
                                 "installs etcd-server)")]


@pytest.fixture
def etcd(tmp_path_factory):
    """etcd(members=1, start=True, tls=None) -> a running Etcd, stopped after the test."""
    started = []

    def make(members: int = 1, start: bool = True, tls=None) -> Etcd:
        started.append(Etcd(tmp_path_factory.mktemp("etcd"), members, start, tls))
        return started[-1]
    yield make
    for one in started:
        one.stop()


class Agent(ServiceProcess):
    """`ecli server --port 0 --fleet URLS --node NAME ...`, with its local API."""

    def __init__(self, urls: str, node: str, *labels: str, ttl: int = 10, options=()):
        self.node = node
        self.args = ["--fleet", urls, "--node", node, "--lease-ttl", str(ttl),
                     *map(str, options)]
        for label in labels:
            self.args += ["--label", label]
        super().__init__([*ECLI, "server", "--port", "0", *self.args],
                         r"listening on (\S+)", f"agent {node}")
        self.client = Client(self.url)

    def tasks(self, name: str | None = None, live: bool = True) -> list[dict]:
        tasks = self.client.call("GET", "/task")["tasks"]
        return [t for t in tasks if (name is None or t["name"] == name) and
                (not live or t["status"] in ("starting", "running", "paused"))]

    def log_text(self, task_id: int) -> str:
        reply = self.client.call("POST", "/log", {"id": task_id, "maximum_count": 100_000})
        return "\n".join(entry["text"] for entry in reply["log"])

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)


@pytest.fixture
def agents():
    """agents(urls, node, *labels, ttl=10) -> a running Agent; every one stopped after."""
    started: list[Agent] = []

    def start(urls: str, node: str, *labels: str, ttl: int = 10, options=()) -> Agent:
        started.append(Agent(urls, node, *labels, ttl=ttl, options=options))
        return started[-1]
    yield start
    for agent in started:
        if agent.proc.poll() is None:
            agent.stop()


def fleet(urls: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`ecli fleet --etcd URLS ARGS...` to completion."""
    return subprocess.run([*ECLI, "fleet", "--etcd", urls, *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, check=False)
