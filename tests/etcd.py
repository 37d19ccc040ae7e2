"""A real etcd on loopback (Debian's etcd-server): one member or a cluster, for the fleet
tests and bench/fleet.py."""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from pathlib import Path

from tests.kernel.conftest import wait_until
from tests.service import free_ports

ETCD = shutil.which("etcd")


class EtcdMember:
    def __init__(self, root: Path, name: str, client_port: int, peer_port: int,
                 cluster: str, tls: tuple[Path, ...] | None = None):
        scheme = "https" if tls else "http"
        self.name, self.url, self.tls = name, f"{scheme}://127.0.0.1:{client_port}", tls
        self.command = [ETCD, "--name", name, "--data-dir", str(root / name),
                        "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
                        "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
                        "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
                        "--initial-cluster", cluster, "--initial-cluster-state", "new",
                        "--log-level", "error"]
        if tls:
            ca, cert, key = tls[:3]
            self.command += ["--cert-file", str(cert), "--key-file", str(key),
                             "--trusted-ca-file", str(ca), "--client-cert-auth"]
        self.log = root / f"{name}.log"
        self.proc = None

    def start(self) -> None:
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT)

    def healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"etcd {self.name} exited: {self.log.read_text()[-2000:]}")
        context = None
        if self.tls:
            import ssl
            context = ssl.create_default_context(cafile=str(self.tls[0]))
            context.load_cert_chain(str(self.tls[3]), str(self.tls[4]))
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2,
                                        context=context) as reply:
                return b'"true"' in reply.read()
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


class Etcd:
    """`members` etcd members forming one cluster on loopback."""

    def __init__(self, root: Path, members: int = 1, start: bool = True,
                 tls: tuple[Path, ...] | None = None):
        """`tls`: (ca, server cert, server key, client cert, client key); clients must
        then present a certificate the CA signed."""
        ports = free_ports(2 * members)
        names = [f"m{i}" for i in range(members)]
        cluster = ",".join(f"{n}=http://127.0.0.1:{ports[2 * i + 1]}"
                           for i, n in enumerate(names))
        self.members = [EtcdMember(root, n, ports[2 * i], ports[2 * i + 1], cluster, tls)
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
