"""Pod labels from the Kubernetes API server. An API server cannot run here, so a fake one
on loopback answers `GET /api/v1/namespaces/NS/pods/NAME` as the real one does (only the
fields read), and checks the bearer token; the containers, the kubelet's labels on them
and the BPF side are real."""

from __future__ import annotations

import base64
import json
import os
import tempfile
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


def _kubeconfig(tmp_path, cluster: dict, **top) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps({
        "current-context": "test",
        "contexts": [{"name": "test", "context": {"cluster": "c", "user": "u"}}],
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "u", "user": {"token": TOKEN}}], **top}))
    return str(path)


HTTPS = {"server": "https://127.0.0.1:6443"}


@pytest.mark.parametrize("text, message", [
    ("contexts: 5\ncurrent-context: a\n", "'contexts' is not a list"),
    ("current-context: a\ncontexts: [{name: a, context: astring}]\n",
     "context 'a' is not a mapping"),
    ("[" * 5000 + "]" * 5000, "kubeconfig"),
    ("current-context: " + "9" * 5000 + "\n", "kubeconfig"),
    ("current-context: 12\n", "current-context is not a string"),
    ("current-context: \"\\e]0;T\\a\"\ncontexts: []\n", "no context"),
])
def test_a_hostile_kubeconfig_is_one_typed_error(tmp_path, text, message):
    path = tmp_path / "kubeconfig"
    path.write_text(text)
    with pytest.raises(KubeConfigError, match=message) as raised:
        from_kubeconfig(str(path))
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("cluster, message", [
    ({**HTTPS, "certificate-authority-data": "!!!notbase64"}, "not base64"),
    ({**HTTPS, "certificate-authority-data": 12345}, "not a string"),
    ({**HTTPS, "certificate-authority-data": base64.b64encode(b"junk").decode()},
     "does not load"),
    ({**HTTPS, "certificate-authority": "/nonexistent/ca.crt"},
     "/nonexistent/ca.crt: No such file"),
    ({"server": "https://[::1"}, "server"),
    ({"server": "https://127.0.0.1:99999"}, "server"),
    ({"server": 42}, "not a string"),
])
def test_a_hostile_cluster_is_one_typed_error(tmp_path, cluster, message):
    with pytest.raises(KubeConfigError, match=message):
        from_kubeconfig(_kubeconfig(tmp_path, cluster))


def test_a_fifo_as_the_certificate_authority_is_refused_at_once(tmp_path):
    """ssl would open the CA itself and block on a FIFO forever; it is read here, bounded,
    regular files only."""
    fifo = tmp_path / "ca-fifo"
    os.mkfifo(fifo)
    with pytest.raises(KubeConfigError, match="not a regular file"):
        from_kubeconfig(_kubeconfig(tmp_path, {**HTTPS, "certificate-authority": str(fifo)}))


def test_the_certificate_authority_loads_from_data_without_a_temporary_file(tmp_path):
    from tests.tls import make_tls
    ca_pem = make_tls(tmp_path)[0].read_bytes()
    before = set(os.listdir(tempfile.gettempdir()))
    server = from_kubeconfig(_kubeconfig(tmp_path, {
        **HTTPS, "certificate-authority-data": base64.b64encode(ca_pem).decode()}))
    assert server.tls_context.get_ca_certs()
    assert set(os.listdir(tempfile.gettempdir())) - before == set()


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


def test_a_broken_kubeconfig_given_to_ecli_is_one_error_at_the_start(example_package, tmp_path):
    from tests.cli.conftest import run_ecli
    path = tmp_path / "kubeconfig"
    path.write_text("current-context: a\ncontexts: 5\n")
    result = run_ecli("run", example_package("exitsnoop"), "--kubeconfig", path)
    assert result.returncode == 1
    assert result.stderr == f"ecli: error: --kubeconfig: kubeconfig {path}: 'contexts' is " \
                            "not a list\n"
