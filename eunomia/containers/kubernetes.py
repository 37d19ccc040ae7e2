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
import binascii
import functools
import http.client
import os
import ssl
import time
import urllib.parse

from ..errors import EunomiaError
from ..files import read_bounded, read_text_bounded
from ..logs import Logger
from ..net import http_url
from ..valueclass import valueclass
from .runtimes import CALL_SECONDS, RETRY_SECONDS, RuntimeAPIError, fetch_json

log = Logger("eunomia.containers")

SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
LABELS_SECONDS = 30.0       # a pod's labels are asked again after this
MAX_PODS = 4096             # pods whose labels are held


class KubeConfigError(EunomiaError):
    """No usable API server configuration."""


MAX_CA_BYTES = 1 << 20         # a CA bundle (the system's is ~200 KB)


@valueclass(frozen=True)
class ApiServer:
    """Where the API server is and how to trust and ask it."""

    url: str                    # https://HOST:PORT (or http:// for a local proxy)
    token: str = ""
    ca: str | bytes | None = None   # the CA: PEM text or DER bytes (None: the system's)
    insecure: bool = False

    def connection(self, seconds: float) -> http.client.HTTPConnection:
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme == "http":
            return http.client.HTTPConnection(parts.hostname, parts.port or 80,
                                              timeout=seconds)
        return http.client.HTTPSConnection(parts.hostname, parts.port or 443,
                                           timeout=seconds, context=self.tls_context)

    @functools.cached_property
    def tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cadata=self.ca)
        if self.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


def _ca(data: bytes, where: str) -> str | bytes:
    """A CA read from a file or a kubeconfig: PEM as text, anything else as DER."""
    if data.lstrip().startswith(b"-----BEGIN"):
        return data.decode("ascii", "replace")
    if not data:
        raise KubeConfigError(f"{where}: the certificate authority is empty")
    return data


def _read_ca(path: str, where: str) -> str | bytes:
    # read here, bounded and regular files only (a FIFO would block ssl's own open)
    try:
        return _ca(read_bounded(path, MAX_CA_BYTES), where)
    except OSError as exc:
        raise KubeConfigError(f"{where}: certificate authority {path}: "
                              f"{exc.strerror or exc}") from None


def _checked(server: ApiServer, where: str) -> ApiServer:
    """`server`, once its URL parses and its CA loads; KubeConfigError otherwise."""
    try:
        parts = http_url(server.url)
    except ValueError as exc:
        raise KubeConfigError(f"{where}: server {server.url!r}: {exc}") from None
    if parts.scheme == "https":
        try:
            server.tls_context  # noqa: B018 (made once, here, for every connection)
        except (ssl.SSLError, ValueError) as exc:
            raise KubeConfigError(f"{where}: the certificate authority does not load "
                                  f"({exc})") from None
    return server


def in_cluster() -> ApiServer | None:
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get(
        "KUBERNETES_SERVICE_PORT")
    token = os.path.join(SERVICE_ACCOUNT, "token")
    if not host or not port or not os.path.exists(token):
        return None
    host = f"[{host}]" if ":" in host else host
    where = f"the service account in {SERVICE_ACCOUNT}"
    try:
        token_text = read_text_bounded(token, 1 << 16).strip()
    except OSError as exc:
        raise KubeConfigError(f"{where}: {exc}") from None
    return _checked(ApiServer(f"https://{host}:{port}", token_text,
                              _read_ca(os.path.join(SERVICE_ACCOUNT, "ca.crt"), where)),
                    where)


def from_kubeconfig(path: str) -> ApiServer:
    """The current context's server, CA and token of kubeconfig `path`; KubeConfigError
    naming what is wrong in it."""
    import yaml
    where = f"kubeconfig {path}"
    try:
        config = yaml.safe_load(read_text_bounded(path, 1 << 20))
    except (OSError, yaml.YAMLError, ValueError, RecursionError) as exc:
        # ValueError: an integer of more than 4,300 digits; RecursionError: deep nesting
        text = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise KubeConfigError(f"{where}: {text}") from None
    if not isinstance(config, dict):
        raise KubeConfigError(f"{where}: not a mapping")

    def text(value, what: str, default: str | None = None) -> str:
        if value is None and default is not None:
            return default
        if not isinstance(value, str):
            raise KubeConfigError(f"{where}: {what} is not a string")
        return value

    def named(kind: str, name: str) -> dict:
        entries = config.get(kind) or []
        if not isinstance(entries, list):
            raise KubeConfigError(f"{where}: '{kind}' is not a list")
        for entry in entries:
            if isinstance(entry, dict) and entry.get("name") == name:
                found = entry.get(kind[:-1]) or {}
                if not isinstance(found, dict):
                    raise KubeConfigError(f"{where}: {kind[:-1]} '{name}' is not a mapping")
                return found
        raise KubeConfigError(f"{where}: no {kind[:-1]} '{name}'")
    context = named("contexts", text(config.get("current-context"), "current-context"))
    cluster = named("clusters", text(context.get("cluster"), "the context's cluster"))
    user_name = context.get("user")         # none: a local proxy that needs no token
    user = {} if user_name is None else named("users", text(user_name, "the context's user"))
    server = text(cluster.get("server"), "the cluster's server", "")
    if not server.startswith(("https://", "http://")):
        raise KubeConfigError(f"{where}: the cluster has no https:// server")
    ca = None
    if cluster.get("certificate-authority-data") is not None:
        try:
            ca = _ca(base64.b64decode(text(cluster["certificate-authority-data"],
                                           "certificate-authority-data"), validate=True),
                     where)
        except binascii.Error as exc:
            raise KubeConfigError(f"{where}: certificate-authority-data is not base64 "
                                  f"({exc})") from None
    elif cluster.get("certificate-authority") is not None:
        ca = _read_ca(text(cluster["certificate-authority"], "certificate-authority"), where)
    token = text(user.get("token"), "the user's token", "")
    if not token and user.get("tokenFile") is not None:
        token_file = text(user["tokenFile"], "the user's tokenFile")
        try:
            token = read_text_bounded(token_file, 1 << 16).strip()
        except OSError as exc:
            raise KubeConfigError(f"{where}: tokenFile {token_file}: "
                                  f"{exc.strerror or exc}") from None
    return _checked(ApiServer(server.rstrip("/"), token, ca,
                              cluster.get("insecure-skip-tls-verify") is True), where)


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
