"""The container map itself: hostile runtime sockets, and many short-lived containers
coming and going."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import threading
import time
import uuid

import pytest

from eunomia.containers import ContainerMap, ContainerSelection
from eunomia.containers.procfs import cgroup2_root, owner_of_path
from eunomia.containers.runtimes import CALL_SECONDS

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="cgroups and namespaces need root")


class HostileRuntime:
    """A unix socket that answers as `behaviour` says: "silent" (accepts, never
    answers), "drip" (one header byte a second), "huge" (an endless body), "junk"
    (not JSON)."""

    def __init__(self, path: str, behaviour: str):
        self.path = path
        self.behaviour = behaviour
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(8)
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn) -> None:
        try:
            conn.recv(65536)
            if self.behaviour == "drip":
                for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000:
                    if self.stop.wait(0.3):
                        break
                    conn.send(bytes([byte]))
            elif self.behaviour == "huge":
                conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n[")
                chunk = b'{"Id": "' + b"a" * 64 + b'"},' * 1000
                while not self.stop.is_set():
                    conn.send(chunk)
            elif self.behaviour == "junk":
                conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{[}\x00")
            else:
                self.stop.wait(30)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.server.close()


@needs_root
@pytest.mark.parametrize("behaviour", ["silent", "drip", "huge", "junk"])
def test_a_hostile_runtime_socket_costs_a_warning_not_a_hang(tmp_path, behaviour, caplog):
    path = str(tmp_path / "docker.sock")
    hostile = HostileRuntime(path, behaviour)
    cgroup, child = _fake_container(uuid.uuid4().hex * 2, "docker")
    try:
        containers = ContainerMap({"docker": path, "podman": "", "crio": ""})
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="eunomia.containers"):
            found = containers.by_mntns(os.stat(f"/proc/{child.pid}/ns/mnt").st_ino)
        assert time.monotonic() - started < CALL_SECONDS * 5    # bounded, not a hang
        assert found is not None and found.name == found.id[:12]    # no name: its ID
        assert [r.getMessage() for r in caplog.records if "docker API" in r.getMessage()]
    finally:
        hostile.close()
        _end(cgroup, child)


def _fake_container(container_id: str, runtime: str):
    """A process in a mount namespace of its own and a cgroup named as `runtime` names
    a container's (the 500-container test cannot afford podman's start-up per container:
    these are the same kernel objects, made directly)."""
    root = cgroup2_root()
    parent = {"docker": "docker", "podman": "libpod_parent",
              "containerd": f"kubepods/besteffort/pod{POD_UID}"}[runtime]
    leaf = {"docker": container_id, "podman": f"libpod-{container_id}",
            "containerd": f"cri-containerd-{container_id}.scope"}[runtime]
    cgroup = os.path.join(root, parent, leaf)
    os.makedirs(cgroup, exist_ok=True)
    child = subprocess.Popen(["unshare", "--mount", "--", "sh", "-c",
                              f"echo $$ > {cgroup}/cgroup.procs; echo ok; read line"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ok"
    return cgroup, child


POD_UID = "0b0e6c2e-8a43-4c7e-9d2b-0a4b3e0f1c2d"


def _end(cgroup: str, child) -> None:
    child.kill()
    child.wait()
    deadline = time.monotonic() + 10
    while True:
        try:
            os.rmdir(cgroup)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


@needs_root
def test_containerd_containers_are_named_by_the_kubelets_log_links(tmp_path):
    """containerd's API is gRPC only: a Kubernetes node's containers get their names from
    the links the kubelet keeps in /var/log/containers (made here as the kubelet makes
    them; the cgroup and the mount namespace are real)."""
    container_id = uuid.uuid4().hex * 2
    links = tmp_path / "containers"
    links.mkdir()
    (links / f"web-0_shop_app-server-{container_id}.log").symlink_to("/dev/null")
    (links / f"db-0_shop_db-{'ab' * 32}.log").symlink_to("/dev/null")
    cgroup, child = _fake_container(container_id, "containerd")
    try:
        containers = ContainerMap({"podman": "", "docker": "", "crio": ""},
                                  kubelet_logs=str(links))
        found = containers.by_mntns(os.stat(f"/proc/{child.pid}/ns/mnt").st_ino)
        assert (found.name, found.pod, found.namespace, found.runtime, found.pod_uid) == (
            "app-server", "web-0", "shop", "containerd", POD_UID)
    finally:
        _end(cgroup, child)
        os.rmdir(os.path.dirname(cgroup))


@needs_root
def test_500_short_lived_containers_leave_the_map_bounded():
    containers = ContainerMap({"podman": "", "docker": "", "crio": ""}, limit=64)
    seen = 0
    for _ in range(20):
        batch = [_fake_container(uuid.uuid4().hex * 2, "podman") for _ in range(25)]
        containers.refresh()
        for _, child in batch:
            mntns = os.stat(f"/proc/{child.pid}/ns/mnt").st_ino
            seen += containers.by_mntns(mntns) is not None
        for cgroup, child in batch:
            _end(cgroup, child)
        containers.refresh()
        sizes = containers.sizes()
        assert all(size <= 64 for size in sizes.values()), sizes
    assert seen == 500                            # every one was found while it lived
    assert containers.containers() == []          # all gone


def test_cgroup_paths_name_containers_pods_and_units():
    pod = "0b0e6c2e_8a43_4c7e_9d2b_0a4b3e0f1c2d"
    owner = owner_of_path(f"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-"
                          f"pod{pod}.slice/cri-containerd-{'ab' * 32}.scope")
    assert (owner.runtime, owner.container_id, owner.pod_uid) == (
        "containerd", "ab" * 32, pod.replace("_", "-"))
    assert owner_of_path(f"/docker/{'cd' * 32}").runtime == "docker"
    assert owner_of_path(f"/machine.slice/libpod-{'ef' * 32}.scope").runtime == "podman"
    assert owner_of_path(f"/machine.slice/libpod-conmon-{'ef' * 32}.scope").container_id == ""
    assert owner_of_path("/system.slice/ssh.service").unit == "ssh.service"
    assert owner_of_path("/user.slice/user-0.slice/session-3.scope").unit == "session-3.scope"


def test_selection_matches_names_ids_namespaces_pods_and_labels():
    from eunomia.containers import Container
    web = Container.from_labels("ab" * 32, "podman", "ignored", "img", {
        "io.kubernetes.container.name": "web", "io.kubernetes.pod.name": "web-0",
        "io.kubernetes.pod.namespace": "shop", "tier": "front"})
    assert ContainerSelection(names=("w*",)).matches(web)
    assert ContainerSelection(names=("abab",)).matches(web)          # an ID's start
    assert not ContainerSelection(names=("db",)).matches(web)
    assert ContainerSelection(namespaces=("shop",), pods=("web-*",)).matches(web)
    assert not ContainerSelection(namespaces=("kube-system",)).matches(web)
    assert ContainerSelection(selector=(("tier", "front"),)).matches(web)
    assert not ContainerSelection(selector=(("tier", "back"),)).matches(web)
    assert not ContainerSelection(names=("web",)).matches(None)      # the host
    assert ContainerSelection().matches(None)


def test_an_unknown_runtime_is_a_typed_error():
    from eunomia import EunomiaError
    with pytest.raises(EunomiaError, match="no container runtime 'bogus'"):
        ContainerMap(sockets={"bogus": "/run/bogus.sock"})
