"""A client of the OCI distribution API: manifests and blobs of one repository.

Why not oras-py (measured with Debian's docker-registry 2.8 and htpasswd auth): its token
backend answers a `Basic` challenge by asking the realm string ("reg") for a token, so
every push and pull failed; and its retry decorator sleeps 3+5+11+29+83 s on a connection
error, so a stopped registry held the command for 131 s before the error. It also logs to
stderr on its own and does not check blob digests. The part of the protocol used here
(ping, the Basic and Bearer challenges, GET/HEAD/PUT of manifests, monolithic blob upload)
is small, and `requests` carries the HTTP, TLS and redirects.

Transport rules: HTTPS with the system CAs (or `cafile`); plain HTTP only for a registry
on loopback or with `insecure`, which also accepts any TLS certificate.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path

from ..errors import (
    ImageNotFoundError,
    IntegrityError,
    RegistryAuthError,
    RegistryError,
)
from ..net import Deadline, HeadersDeadline, is_loopback, short_reason, watch_sockets
from ..valueclass import valueclass
from . import mediatypes
from .credentials import Credentials, stored_credentials
from .reference import DIGEST, Reference

CONNECT_TIMEOUT_S = 10
READ_TIMEOUT_S = 30
DEADLINE_S = 300                      # for one whole blob or manifest
HEADERS_DEADLINE_S = 60                # for a reply's status line and headers
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_BLOB_BYTES = 64 * 1024 * 1024     # what a package source may be (package.source)
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


@valueclass
class RegistryOptions:
    """How to reach registries: credentials (else the docker config's), and TLS."""

    credentials: Credentials | None = None
    insecure: bool = False          # plain HTTP, or TLS without verification, for any host
    cafile: str | None = None       # a CA bundle to trust besides the system's
    docker_config: Path | None = None
    # vets the address of every connection (a server fetching for a client: no private
    # networks); None lets any through
    peer_allowed: Callable[[str], bool] | None = None


@valueclass(frozen=True)
class Fetched:
    """A manifest as the registry sent it: its bytes, media type and digest."""

    content: bytes
    media_type: str
    digest: str

    def json(self) -> dict:
        try:
            doc = json.loads(self.content)
        except ValueError:
            raise RegistryError(f"manifest {self.digest} is not JSON") from None
        if not isinstance(doc, dict):
            raise RegistryError(f"manifest {self.digest} is not a JSON object")
        return doc


def sha256_digest(content: bytes) -> str:
    return "sha256:" + hashlib.sha256(content).hexdigest()


def _registry_message(response) -> str:
    """The registry's own words for a failed request (read when it came back)."""
    try:
        errors = json.loads(getattr(response, "error_text", b"") or b"{}").get("errors") or []
        return "; ".join(f"{e.get('code', '')}: {e.get('message', '')}".strip(": ")
                         for e in errors if isinstance(e, dict)) or response.reason
    except (ValueError, AttributeError, TypeError):
        return response.reason or f"HTTP {response.status_code}"


SMALL_BODY = 64 * 1024      # error replies, token replies: never more than this is read


class RegistryClient:
    """Requests to one repository of one registry, authenticated as the registry asks."""

    def __init__(self, reference: Reference, options: RegistryOptions | None = None):
        import requests  # here: it costs 60 ms, and most runs read a file
        self._requests = requests
        self.reference = reference
        self.options = options or RegistryOptions()
        if self.options.cafile and not Path(self.options.cafile).is_file():
            raise RegistryError(f"--cafile: no file {self.options.cafile}")
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "eunomia-ecli"
        self._sockets = watch_sockets(self.session, self.options.peer_allowed)
        self._base: str | None = None
        self._authorization: str | None = None
        self._credentials: Credentials | None = self.options.credentials
        self._looked_up = self.options.credentials is not None

    @property
    def host(self) -> str:
        return self.reference.registry

    # -- transport ------------------------------------------------------------------

    @property
    def _verify(self):
        if self.options.insecure:
            return False
        return self.options.cafile or True

    def _send(self, method: str, url: str, **kwargs):
        """One request, its body not read yet (stream): callers read what they need,
        bounded. The credentials go only to the registry's own origin (an upload's
        Location may name another host)."""
        requests = self._requests
        headers = dict(kwargs.pop("headers", None) or {})
        if self._authorization and self._base and url.startswith(self._base + "/") and \
                "Authorization" not in headers:
            headers["Authorization"] = self._authorization
        deadline = HeadersDeadline(self._sockets.current(), HEADERS_DEADLINE_S)
        try:
            with deadline:      # the status line and headers, however slowly they come
                response = self.session.request(method, url, headers=headers,
                                                verify=self._verify,
                                                timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S),
                                                stream=True, **kwargs)
            if deadline.expired:    # headers cut short by the shut socket: not a reply
                response.close()
                raise requests.exceptions.ConnectionError("cut off")
            return response
        except requests.exceptions.RequestException as exc:
            if deadline.expired:
                raise RegistryError(f"registry {self.host}: no answer within "
                                    f"{HEADERS_DEADLINE_S} s") from None
            if isinstance(exc, requests.exceptions.SSLError):
                raise RegistryError(f"{self.host}: TLS failed ({short_reason(exc)}); "
                                    "--cafile CA.pem trusts a private CA") from None
            raise RegistryError(f"cannot reach registry {self.host}: "
                                f"{short_reason(exc)}") from None
        except ValueError as exc:           # requests' InvalidURL and friends
            raise RegistryError(f"registry {self.host}: {exc}") from None

    def _small(self, response) -> bytes:
        """At most SMALL_BODY bytes of a reply, within the deadline; the reply is closed."""
        try:
            return self._read_body(response, SMALL_BODY, "the reply", truncate=True)
        except RegistryError:
            return b""

    def _base_url(self) -> str:
        """https://HOST, or http://HOST where plain HTTP is allowed and TLS is not spoken."""
        if self._base:
            return self._base
        secure = f"https://{self.host}/v2/"
        try:
            self._send("GET", secure).close()
            self._base = f"https://{self.host}"
            return self._base
        except RegistryError as tls_error:
            if not (self.options.insecure or self.reference.is_loopback):
                raise
            try:
                answer = self._send("GET", f"http://{self.host}/v2/")
                answer.close()
            except RegistryError:
                raise tls_error from None
            if answer.status_code == 400:     # "Client sent an HTTP request to an HTTPS server"
                raise tls_error from None
            self._base = f"http://{self.host}"
            return self._base

    def _url(self, path: str) -> str:
        return f"{self._base_url()}/v2/{self.reference.repository}/{path}"

    # -- auth -----------------------------------------------------------------------

    def _user_credentials(self) -> Credentials | None:
        if not self._looked_up:
            self._credentials = stored_credentials(self.host, self.options.docker_config)
            self._looked_up = True
        return self._credentials

    def _authenticate(self, response, actions: str) -> None:
        challenge = response.headers.get("WWW-Authenticate", "")
        scheme = challenge.split(" ", 1)[0].lower()
        params = dict(_CHALLENGE_PARAM.findall(challenge))
        credentials = self._user_credentials()
        if scheme == "basic":
            if credentials is None:
                raise RegistryAuthError(
                    f"registry {self.host} needs credentials: `ecli login {self.host}`, "
                    "-u USER -p PASSWORD, or -i to be asked")
            import base64
            pair = f"{credentials.username}:{credentials.password}".encode()
            self._authorization = "Basic " + base64.b64encode(pair).decode()
            return
        if scheme != "bearer" or "realm" not in params:
            raise RegistryAuthError(f"registry {self.host} asks for an authentication "
                                    f"this client does not know: {challenge[:80]!r}")
        query = {"service": params.get("service", self.host),
                 "scope": params.get("scope") or
                 f"repository:{self.reference.repository}:{actions}"}
        realm = params["realm"]
        auth = None
        if credentials is not None:
            import urllib.parse
            realm_host = urllib.parse.urlparse(realm).hostname or ""
            if not realm.startswith("https://") and not (self.options.insecure or
                                                         is_loopback(realm_host)):
                raise RegistryAuthError(f"registry {self.host} sends credentials to the "
                                        f"token service {realm} over plain HTTP: refused "
                                        "(--insecure allows it)")
            auth = (credentials.username, credentials.password)
        deadline = HeadersDeadline(self._sockets.current(), HEADERS_DEADLINE_S)
        try:
            with deadline:
                reply = self.session.get(realm, params=query, auth=auth, verify=self._verify,
                                         timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S),
                                         stream=True)
            if deadline.expired:
                reply.close()
                raise self._requests.exceptions.ConnectionError("cut off")
        except (self._requests.exceptions.RequestException, ValueError) as exc:
            reason = f"no answer within {HEADERS_DEADLINE_S} s" if deadline.expired else \
                short_reason(exc)
            raise RegistryAuthError(f"cannot get a token for {self.host} from "
                                    f"{realm}: {reason}") from None
        body = self._small(reply)
        if reply.status_code in (401, 403):
            raise self._refused(credentials)
        try:
            answer = json.loads(body)
            token = answer.get("token") or answer.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if reply.status_code != 200 or not isinstance(token, str):
            raise RegistryAuthError(f"{realm} gave no token for {self.host} "
                                    f"(HTTP {reply.status_code})")
        self._authorization = f"Bearer {token}"

    def _refused(self, credentials: Credentials | None) -> RegistryAuthError:
        if credentials is None:
            return RegistryAuthError(f"registry {self.host} needs credentials: `ecli login "
                                     f"{self.host}`, -u USER -p PASSWORD, or -i")
        return RegistryAuthError(f"registry {self.host} refused the credentials of user "
                                 f"{credentials.username!r} (wrong password, or no access "
                                 f"to {self.reference.repository})")

    def request(self, method: str, path: str, actions: str = "pull", keep_body: bool = False,
                **kwargs):
        """One request to /v2/REPOSITORY/PATH, authenticating once if challenged. The
        reply's body is left to read only with `keep_body` and a 2xx status; otherwise
        its first SMALL_BODY bytes are in `error_text` and it is closed."""
        url = path if path.startswith("http") else self._url(path)
        response = self._send(method, url, **kwargs)
        if response.status_code == 401:
            self._small(response)
            self._authenticate(response, actions)
            response = self._send(method, url, **kwargs)
            if response.status_code == 401:
                self._small(response)
                raise self._refused(self._user_credentials())
        if response.status_code == 403:
            self._small(response)
            raise self._refused(self._user_credentials())
        if not keep_body or response.status_code >= 300:
            response.error_text = self._small(response)
        return response

    # -- reading --------------------------------------------------------------------

    def _read_body(self, response, limit: int, what: str, truncate: bool = False) -> bytes:
        """At most `limit` bytes (more is an error, or cut with `truncate`), all within
        DEADLINE_S however slowly they come; the response is closed."""
        chunks, size = [], 0
        deadline = Deadline(response, DEADLINE_S)
        try:
            with deadline:
                for chunk in response.iter_content(65536):
                    size += len(chunk)
                    chunks.append(chunk)
                    if size > limit:
                        if truncate:
                            break
                        raise RegistryError(f"{what}: larger than "
                                            f"{limit // (1024 * 1024)} MiB")
        except (self._requests.exceptions.RequestException, OSError, ValueError) as exc:
            if deadline.expired:
                raise RegistryError(f"{what}: not received within {DEADLINE_S} s") from None
            raise RegistryError(f"{what}: {short_reason(exc)}") from None
        finally:
            response.close()
        if deadline.expired:
            raise RegistryError(f"{what}: not received within {DEADLINE_S} s")
        return b"".join(chunks)[:limit] if truncate else b"".join(chunks)

    def _not_found(self, response, what: str) -> RegistryError:
        message = _registry_message(response)
        if response.status_code == 404:
            return ImageNotFoundError(f"{what}: not found in {self.host} ({message})")
        return RegistryError(f"{what}: registry {self.host} answered HTTP "
                             f"{response.status_code} ({message})")

    def get_manifest(self, version: str | None = None) -> Fetched:
        """The manifest at a tag or digest; a digest is checked against the content."""
        version = version or self.reference.version
        what = f"{self.reference.name}:{version}" if not version.startswith("sha256:") \
            else f"{self.reference.name}@{version}"
        response = self.request("GET", f"manifests/{version}", keep_body=True,
                                headers={"Accept": ", ".join(mediatypes.ACCEPTED_MANIFESTS)})
        if response.status_code != 200:
            raise self._not_found(response, what)
        content = self._read_body(response, MAX_MANIFEST_BYTES, what)
        digest = sha256_digest(content)
        expected = version if version.startswith("sha256:") else \
            response.headers.get("Docker-Content-Digest")
        if expected and expected != digest:
            raise IntegrityError(f"{what}: the manifest's digest is {digest}, not {expected} "
                                 "(tampered with, or a wrong pin)")
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        return Fetched(content, media_type, digest)

    def manifest_digest(self, version: str) -> str | None:
        """The digest a tag points at (HEAD), or None where there is no such tag."""
        response = self.request("HEAD", f"manifests/{version}",
                                headers={"Accept": ", ".join(mediatypes.ACCEPTED_MANIFESTS)})
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._not_found(response, f"{self.reference.name}:{version}")
        digest = response.headers.get("Docker-Content-Digest")
        return digest if DIGEST.match(digest or "") else self.get_manifest(version).digest

    def get_blob(self, descriptor: dict, limit: int = MAX_BLOB_BYTES) -> bytes:
        """A blob's bytes, checked against the descriptor's digest and size."""
        digest, size = descriptor.get("digest"), descriptor.get("size")
        if not isinstance(digest, str) or not digest.startswith("sha256:"):
            raise RegistryError(f"{self.reference}: a descriptor names no sha256 digest")
        if isinstance(size, int) and size > limit:
            raise RegistryError(f"{digest}: {size} bytes, more than "
                                f"{limit // (1024 * 1024)} MiB")
        response = self.request("GET", f"blobs/{digest}", keep_body=True)
        if response.status_code != 200:
            raise self._not_found(response, f"blob {digest} of {self.reference.name}")
        content = self._read_body(response, limit, f"blob {digest}")
        actual = sha256_digest(content)
        if actual != digest or (isinstance(size, int) and size != len(content)):
            raise IntegrityError(f"blob {digest} of {self.reference.name}: content does not "
                                 f"match (sha256 {actual[7:19]}…, {len(content)} bytes): "
                                 "tampered with or truncated")
        return content

    # -- writing --------------------------------------------------------------------

    def has_blob(self, digest: str) -> bool:
        return self.request("HEAD", f"blobs/{digest}", "pull,push").status_code == 200

    def put_blob(self, content: bytes, media_type: str, annotations: dict | None = None) -> dict:
        """Uploads `content` (unless the registry has it) and returns its descriptor."""
        digest = sha256_digest(content)
        descriptor = {"mediaType": media_type, "digest": digest, "size": len(content)}
        if annotations:
            descriptor["annotations"] = annotations
        if self.has_blob(digest):
            return descriptor
        started = self.request("POST", "blobs/uploads/", "pull,push")
        if started.status_code != 202 or "Location" not in started.headers:
            raise self._not_found(started, f"upload to {self.reference.name}")
        import urllib.parse
        location = urllib.parse.urljoin(self._base_url() + "/", started.headers["Location"])
        joiner = "&" if "?" in location else "?"
        done = self.request("PUT", f"{location}{joiner}digest={digest}", "pull,push",
                            data=content,
                            headers={"Content-Type": "application/octet-stream"})
        if done.status_code != 201:
            raise self._not_found(done, f"upload of {digest} to {self.reference.name}")
        return descriptor

    def put_manifest(self, tag: str, content: bytes,
                     media_type: str = mediatypes.MANIFEST) -> str:
        response = self.request("PUT", f"manifests/{tag}", "pull,push", data=content,
                                headers={"Content-Type": media_type})
        if response.status_code != 201:
            raise self._not_found(response, f"{self.reference.name}:{tag}")
        return sha256_digest(content)

    def ping(self) -> None:
        """Checks that the registry answers and takes the credentials (for `login`)."""
        response = self._send("GET", f"{self._base_url()}/v2/")
        self._small(response)
        if response.status_code == 401:
            self._authenticate(response, "pull")
            response = self._send("GET", f"{self._base_url()}/v2/")
            self._small(response)
            if response.status_code in (401, 403):
                raise self._refused(self._user_credentials())
        if response.status_code != 200:
            raise RegistryError(f"{self.host} is not an OCI registry (GET /v2/ answered "
                                f"HTTP {response.status_code})")
