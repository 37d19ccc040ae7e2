"""A real OCI registry on loopback (Debian's docker-registry, the distribution project's
server), run three ways: plain HTTP, htpasswd basic auth, and TLS with a CA made here."""

from __future__ import annotations

import datetime
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from tests.cli.conftest import build_dir, ecli, example_package  # noqa: F401  (fixtures)
from tests.kernel.conftest import wait_until
from tests.service import free_ports
from tests.tls import make_tls

REGISTRY = shutil.which("docker-registry")
USER, PASSWORD = "alice", "s3cret-pass"

pytestmark = pytest.mark.skipif(REGISTRY is None, reason="docker-registry is not installed "
                                "(./scripts/setup installs it)")


class Registry:
    """docker-registry in one mode: plain, auth (htpasswd), tls, or token (bearer tokens
    from a TokenServer)."""

    def __init__(self, root: Path, mode: str):
        self.root, self.mode = root, mode
        self.port = free_ports()[0]
        self.host = f"127.0.0.1:{self.port}"
        self.storage = root / "storage"
        self.ca: Path | None = None
        lines = ["version: 0.1", "log: {level: error}",
                 (f"storage: {{filesystem: {{rootdirectory: {self.storage}}}, "
                  "delete: {enabled: true}}"),
                 "http:", f"  addr: {self.host}"]
        if mode == "tls":
            self.ca, cert, key = make_tls(root)
            lines += ["  tls:", f"    certificate: {cert}", f"    key: {key}"]
        if mode == "auth":
            htpasswd = subprocess.run(["htpasswd", "-Bbn", USER, PASSWORD],
                                      capture_output=True, text=True, check=True).stdout
            (root / "htpasswd").write_text(htpasswd)
            lines += ["auth:", "  htpasswd:", "    realm: eunomia-test",
                      f"    path: {root / 'htpasswd'}"]
        self.tokens = None
        if mode == "token":
            self.tokens = TokenServer(root)
            lines += ["auth:", "  token:", f"    realm: {self.tokens.realm}",
                      "    service: eunomia-test-registry",
                      "    issuer: eunomia-test-issuer",
                      f"    rootcertbundle: {self.tokens.cert}"]
        self.config = root / "config.yml"
        self.config.write_text("\n".join(lines) + "\n")
        self.proc = None
        self.start()

    def start(self) -> None:
        with open(self.root / "registry.log", "a") as log:     # the child keeps its copy
            self.proc = subprocess.Popen([REGISTRY, "serve", str(self.config)],
                                         stdout=log, stderr=subprocess.STDOUT)
        wait_until(self._answers, 30, what=f"docker-registry on {self.host}")

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError("docker-registry exited: " +
                                 (self.root / "registry.log").read_text()[-2000:])
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        if self.tokens:
            self.tokens.stop()
            self.tokens = None

    def blob_path(self, digest: str) -> Path:
        hexdigest = digest.split(":", 1)[1]
        return (self.storage / "docker" / "registry" / "v2" / "blobs" / "sha256" /
                hexdigest[:2] / hexdigest / "data")


@pytest.fixture
def registry(tmp_path_factory):
    """registry("plain" | "auth" | "tls") -> a running Registry, stopped after the test."""
    started = []

    def start(mode: str = "plain") -> Registry:
        started.append(Registry(tmp_path_factory.mktemp(f"registry-{mode}"), mode))
        return started[-1]
    yield start
    for one in started:
        one.stop()


@pytest.fixture
def oci_env(tmp_path):
    """`env` words giving ecli its own image cache and docker config."""
    cache, config = tmp_path / "cache", tmp_path / "docker"
    config.mkdir()
    return ("env", f"EUNOMIA_CACHE_DIR={cache}", f"DOCKER_CONFIG={config}")


class TokenServer:
    """The distribution spec's token service: answers GET /token?service=&scope= with a
    JWT (ES256, the certificate in its x5c header) for USER/PASSWORD given as Basic auth,
    as docker_auth or Harbor's core do. The registry trusts the certificate's key."""

    def __init__(self, root: Path):
        import base64
        import http.server
        import json as jsonlib
        import threading
        import time as timelib
        import urllib.parse

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "eunomia test tokens")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        self.cert = root / "token-cert.pem"
        self.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
        self.issued: list[str] = []

        def b64url(raw: bytes) -> str:
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

        def token(scope: str, service: str) -> str:
            access = []
            if scope:
                kind, repository, actions = scope.split(":")
                access = [{"type": kind, "name": repository, "actions": actions.split(",")}]
            issued = int(timelib.time())
            claims = {"iss": "eunomia-test-issuer", "sub": USER, "aud": service,
                      "exp": issued + 300, "nbf": issued - 10, "iat": issued,
                      "jti": str(issued), "access": access}
            header = {"typ": "JWT", "alg": "ES256", "x5c": [x5c]}
            signing_input = (b64url(jsonlib.dumps(header).encode()) + "." +
                             b64url(jsonlib.dumps(claims).encode()))
            r, s = decode_dss_signature(key.sign(signing_input.encode(),
                                                 ec.ECDSA(hashes.SHA256())))
            return signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))

        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        issued_list = self.issued

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                query = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(self.path).query))
                if self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.end_headers()
                    return
                body = jsonlib.dumps({"token": token(query.get("scope", ""),
                                                     query.get("service", ""))}).encode()
                issued_list.append(query.get("scope", ""))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.realm = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
