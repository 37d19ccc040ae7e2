"""A real etcd on loopback (Debian's etcd-server): one member or a cluster, for the fleet
tests and bench/fleet.py."""

from __future__ import annotations

import shutil
import socket
import subprocess
import urllib.request
from pathlib import Path

from tests.kernel.conftest import wait_until

ETCD = shutil.which("etcd")


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for one in sockets:
            one.bind(("127.0.0.1", 0))
        return [one.getsockname()[1] for one in sockets]
    finally:
        for one in sockets:
            one.close()


class EtcdMember:
    def __init__(self, root: Path, name: str, client_port: int, peer_port: int,
                 cluster: str):
        self.name, self.url = name, f"http://127.0.0.1:{client_port}"
        self.command = [ETCD, "--name", name, "--data-dir", str(root / name),
                        "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
                        "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
                        "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
                        "--initial-cluster", cluster, "--initial-cluster-state", "new",
                        "--log-level", "error"]
        self.log = root / f"{name}.log"
        self.proc = None

    def start(self) -> None:
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT)

    def healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"etcd {self.name} exited: {self.log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as reply:
                return b'"true"' in reply.read()
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


class Etcd:
    """`members` etcd members forming one cluster on loopback."""

    def __init__(self, root: Path, members: int = 1, start: bool = True):
        ports = free_ports(2 * members)
        names = [f"m{i}" for i in range(members)]
        cluster = ",".join(f"{n}=http://127.0.0.1:{ports[2 * i + 1]}"
                           for i, n in enumerate(names))
        self.members = [EtcdMember(root, n, ports[2 * i], ports[2 * i + 1], cluster)
                        for i, n in enumerate(names)]
        self.urls = ",".join(m.url for m in self.members)
        if start:
            self.start()

    def start(self) -> None:
        for member in self.members:
            member.start()
        for member in self.members:
            wait_until(member.healthy, 60, 0.1, what=f"etcd {member.name} to be healthy")

    def stop(self) -> None:
        for member in self.members:
            member.stop()
