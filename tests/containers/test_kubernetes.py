"""Pod labels from the Kubernetes API server. An API server cannot run here, so a fake one
on loopback answers `GET /api/v1/namespaces/NS/pods/NAME` as the real one does (only the
fields read), and checks the bearer token; the containers, the kubelet's labels on them
and the BPF side are real."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
import yaml

from eunomia.containers.kubernetes import KubeConfigError, PodLabels, from_kubeconfig

from .conftest import needs_podman

TOKEN = "test-token-" + uuid.uuid4().hex
PODS = {("shop", "web-0"): {"app": "web", "tier": "front"},
        ("shop", "db-0"): {"app": "db", "tier": "back"}}


class FakeApiServer(BaseHTTPRequestHandler):
    asked: ClassVar[list] = []

    def do_GET(self):
        FakeApiServer.asked.append(self.path)
        parts = self.path.split("/")
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._answer(401, {"kind": "Status", "code": 401})
        if len(parts) == 7 and parts[1:4] == ["api", "v1", "namespaces"] and \
                parts[5] == "pods" and (parts[4], parts[6]) in PODS:
            labels = PODS[parts[4], parts[6]]
            return self._answer(200, {"kind": "Pod", "metadata": {
                "name": parts[6], "namespace": parts[4], "labels": labels}})
        return self._answer(404, {"kind": "Status", "code": 404})

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def kubeconfig(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeApiServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "test",
        "contexts": [{"name": "test", "context": {"cluster": "c", "user": "u"}}],
        "clusters": [{"name": "c", "cluster": {
            "server": f"http://127.0.0.1:{server.server_address[1]}"}}],
        "users": [{"name": "u", "user": {"token": TOKEN}}]}))
    yield str(path)
    server.shutdown()


def test_pod_labels_come_from_the_api_with_the_token(kubeconfig):
    labels = PodLabels(from_kubeconfig(kubeconfig))
    assert labels.labels("shop", "web-0") == {"app": "web", "tier": "front"}
    assert labels.labels("shop", "web-0") == {"app": "web", "tier": "front"}   # cached
    assert FakeApiServer.asked.count("/api/v1/namespaces/shop/pods/web-0") == 1
    assert labels.labels("shop", "gone") == {}


def test_a_broken_kubeconfig_is_one_clear_error(tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text("current-context: nowhere\ncontexts: []\n")
    with pytest.raises(KubeConfigError, match="no context 'nowhere'"):
        from_kubeconfig(str(path))


@needs_podman
def test_k8s_selector_matches_pod_labels(example_package, podman_socket, containers,
                                         kubeconfig):
    from tests.cli.conftest import Ecli, wait_until
    path = f"/etc/eunomia-{uuid.uuid4().hex[:12]}"
    loop = f"while true; do cat {path}; sleep 0.05; done"
    web, db = containers.name("eu-web"), containers.name("eu-db")
    run = Ecli([str(example_package("opensnoop")), "--json", "--runtime-socket",
                f"podman={podman_socket}", "--kubeconfig", kubeconfig,
                "--k8s-selector", "app=web,tier=front"])
    run.wait_attached()
    try:
        for name, pod in ((db, "db-0"), (web, "web-0")):
            containers.start(name, loop, labels={"io.kubernetes.pod.name": pod,
                                                 "io.kubernetes.pod.namespace": "shop"})
        wait_until(lambda: sum(e.get("fname") == path for e in run.json_events()) >= 5,
                   30, what="opens of the pod whose labels match")
    finally:
        run.stop()
    assert {(e["container"], e["pod"]) for e in run.json_events()} == {(web, "web-0")}
