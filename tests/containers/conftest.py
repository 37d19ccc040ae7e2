"""Real containers for the container tests: Debian's podman with runc, an image made
offline (`podman import` of a busybox rootfs: nothing can be pulled here), and podman's
own API service on a socket of the test's."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import uuid

import pytest

from tests.cli.conftest import build_dir, example_package, fixture_package, wait_until  # noqa: F401 (fixtures)

IMAGE = "localhost/eunomia-busybox:test"
needs_podman = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("podman") is None or shutil.which("busybox") is None,
    reason="containers need root, podman and busybox (./scripts/setup-test installs them)")


def podman(*args: str, timeout: float = 60, check: bool = True) -> str:
    result = subprocess.run(["podman", *args], capture_output=True, text=True,
                            timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout.strip()


@pytest.fixture(scope="session")
def image(tmp_path_factory) -> str:
    """A busybox image, imported from a rootfs tarball made here."""
    if podman("images", "-q", IMAGE, check=False):
        return IMAGE
    root = tmp_path_factory.mktemp("rootfs")
    for sub in ("bin", "etc", "tmp"):
        (root / sub).mkdir()
    shutil.copy(shutil.which("busybox"), root / "bin" / "busybox")
    for applet in ("sh", "cat", "sleep", "true", "ls"):
        (root / "bin" / applet).symlink_to("busybox")
    tarball = root.parent / "rootfs.tar"
    with tarfile.open(tarball, "w") as tar:
        tar.add(root, arcname=".")
    podman("import", str(tarball), IMAGE)
    return IMAGE


def podman_service(path: str):
    """podman's libpod (and docker-compatible) API on socket `path` until the generator
    is closed."""
    service = subprocess.Popen(["podman", "system", "service", "--time=0", f"unix://{path}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: os.path.exists(path), 30, what="podman's API socket")
        yield path
    finally:
        service.terminate()
        try:
            service.wait(10)
        except subprocess.TimeoutExpired:
            service.kill()
        if os.path.exists(path):
            os.unlink(path)


@pytest.fixture(scope="session")
def podman_socket(tmp_path_factory) -> str:
    """podman's API on a socket of this test session."""
    yield from podman_service(str(tmp_path_factory.mktemp("podman") / "podman.sock"))


DEFAULT_SOCKET = "/run/podman/podman.sock"


@pytest.fixture
def default_podman_socket():
    """podman's API on its default socket, as `systemctl start podman.socket` gives it:
    what the server, the exporter and the fleet agent ask without being told."""
    if os.path.exists(DEFAULT_SOCKET):
        yield DEFAULT_SOCKET        # the machine's own service
        return
    os.makedirs(os.path.dirname(DEFAULT_SOCKET), exist_ok=True)
    yield from podman_service(DEFAULT_SOCKET)


class Containers:
    """Starts containers for one test and removes them all after it."""

    def __init__(self, image: str):
        self.image = image
        self.names: list[str] = []

    def name(self, prefix: str) -> str:
        return f"{prefix}-{uuid.uuid4().hex[:8]}"

    def start(self, name: str, script: str, labels: dict[str, str] | None = None) -> str:
        """Runs `sh -c script` in a new detached container; returns its ID."""
        self.names.append(name)
        flags = [f"--label={k}={v}" for k, v in (labels or {}).items()]
        return podman("run", "-d", "--name", name, *flags, self.image, "/bin/sh", "-c",
                      script)

    def run(self, name: str, script: str) -> None:
        """Runs `sh -c script` in a new container to its end."""
        self.names.append(name)
        podman("run", "--name", name, self.image, "/bin/sh", "-c", script)

    def pid(self, name: str) -> int:
        return int(podman("inspect", "-f", "{{.State.Pid}}", name))

    def mntns(self, name: str) -> int:
        return os.stat(f"/proc/{self.pid(name)}/ns/mnt").st_ino

    def remove(self) -> None:
        if self.names:
            podman("rm", "-f", "-t", "0", *self.names, check=False)


@pytest.fixture
def containers(image):
    made = Containers(image)
    yield made
    made.remove()


__all__ = ["IMAGE", "Containers", "needs_podman", "podman"]
