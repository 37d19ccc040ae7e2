"""Pod labels from the Kubernetes API server, for --k8s-selector on a pod's own labels
(the kubelet puts only the pod's name, namespace and UID on its containers).

The API server is found as the client tools find it: in a pod, from the service
account (KUBERNETES_SERVICE_HOST/PORT and the token and CA under
/var/run/secrets/kubernetes.io/serviceaccount); elsewhere from a kubeconfig (the
KUBECONFIG file, or one given), its current context's server, CA and bearer token.
Only reads pods: `get` on pods is the whole RBAC a DaemonSet needs.
"""

from __future__ import annotations

import base64
import http.client
import logging
import os
import ssl
import tempfile
import time
import urllib.parse
from dataclasses import dataclass

from ..errors import EunomiaError
from ..files import read_text_bounded
from .runtimes import CALL_SECONDS, RETRY_SECONDS, RuntimeAPIError, fetch_json

log = logging.getLogger("eunomia.containers")
log.addHandler(logging.NullHandler())

SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
LABELS_SECONDS = 30.0       # a pod's labels are asked again after this
MAX_PODS = 4096             # pods whose labels are held


class KubeConfigError(EunomiaError):
    """No usable API server configuration."""


@dataclass(frozen=True)
class ApiServer:
    url: str                    # https://HOST:PORT (or http:// for a local proxy)
    token: str = ""
    ca_file: str | None = None
    insecure: bool = False

    def connection(self, seconds: float) -> http.client.HTTPConnection:
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme == "http":
            return http.client.HTTPConnection(parts.hostname, parts.port or 80,
                                              timeout=seconds)
        context = ssl.create_default_context(cafile=self.ca_file)
        if self.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return http.client.HTTPSConnection(parts.hostname, parts.port or 443,
                                           timeout=seconds, context=context)


def in_cluster() -> ApiServer | None:
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get(
        "KUBERNETES_SERVICE_PORT")
    token = os.path.join(SERVICE_ACCOUNT, "token")
    if not host or not port or not os.path.exists(token):
        return None
    host = f"[{host}]" if ":" in host else host
    return ApiServer(f"https://{host}:{port}", read_text_bounded(token, 1 << 16).strip(),
                     os.path.join(SERVICE_ACCOUNT, "ca.crt"))


def from_kubeconfig(path: str) -> ApiServer:
    """The current context's server, CA and token of kubeconfig `path`."""
    import yaml
    try:
        config = yaml.safe_load(read_text_bounded(path, 1 << 20))
    except (OSError, yaml.YAMLError) as exc:
        raise KubeConfigError(f"kubeconfig {path}: {exc}") from None

    def named(kind: str, name) -> dict:
        for entry in (config or {}).get(kind) or []:
            if isinstance(entry, dict) and entry.get("name") == name:
                return entry.get(kind[:-1]) or {}
        raise KubeConfigError(f"kubeconfig {path}: no {kind[:-1]} '{name}'")
    if not isinstance(config, dict):
        raise KubeConfigError(f"kubeconfig {path}: not a mapping")
    context = named("contexts", config.get("current-context"))
    cluster, user = named("clusters", context.get("cluster")), named("users",
                                                                      context.get("user"))
    server = cluster.get("server")
    if not isinstance(server, str) or not server.startswith(("https://", "http://")):
        raise KubeConfigError(f"kubeconfig {path}: the cluster has no https:// server")
    ca_file = cluster.get("certificate-authority")
    if cluster.get("certificate-authority-data"):
        with tempfile.NamedTemporaryFile("wb", suffix=".crt", delete=False) as out:
            out.write(base64.b64decode(cluster["certificate-authority-data"]))
            ca_file = out.name
    token = user.get("token") or ""
    if not token and user.get("tokenFile"):
        token = read_text_bounded(user["tokenFile"], 1 << 16).strip()
    return ApiServer(server.rstrip("/"), str(token), ca_file,
                     bool(cluster.get("insecure-skip-tls-verify")))


def api_server(kubeconfig: str | None = None) -> ApiServer | None:
    """The API server to ask: the kubeconfig given, else the service account's, else
    $KUBECONFIG's; None when there is none."""
    if kubeconfig:
        return from_kubeconfig(kubeconfig)
    found = in_cluster()
    if found is None and os.environ.get("KUBECONFIG"):
        found = from_kubeconfig(os.environ["KUBECONFIG"].split(os.pathsep)[0])
    return found


class PodLabels:
    """A pod's labels, asked of the API server once per LABELS_SECONDS; {} when it does
    not answer (one warning, then RETRY_SECONDS of rest)."""

    def __init__(self, server: ApiServer):
        self.server = server
        self._cache: dict[tuple[str, str], tuple[dict, float]] = {}
        self._failed_at: float | None = None

    def labels(self, namespace: str, pod: str) -> dict[str, str]:
        now = time.monotonic()
        cached = self._cache.get((namespace, pod))
        if cached is not None and now - cached[1] < LABELS_SECONDS:
            return cached[0]
        if self._failed_at is not None and now - self._failed_at < RETRY_SECONDS:
            return cached[0] if cached else {}
        url = (f"/api/v1/namespaces/{urllib.parse.quote(namespace, safe='')}/pods/"
               f"{urllib.parse.quote(pod, safe='')}")
        headers = {"Authorization": f"Bearer {self.server.token}"} if self.server.token \
            else {}
        try:
            answer = fetch_json(self.server.connection(CALL_SECONDS), url, headers)
        except (RuntimeAPIError, ssl.SSLError, ValueError) as exc:
            self._failed_at = now
            log.warning("the Kubernetes API at %s: %s; pod labels are not used for %g s",
                        self.server.url, exc, RETRY_SECONDS)
            return cached[0] if cached else {}
        metadata = answer.get("metadata") if isinstance(answer, dict) else None
        found = metadata.get("labels") if isinstance(metadata, dict) else None
        labels = {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) \
            else {}
        if len(self._cache) >= MAX_PODS:
            self._cache.clear()
        self._cache[namespace, pod] = (labels, now)
        return labels
