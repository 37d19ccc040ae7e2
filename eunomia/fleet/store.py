"""etcd, as the fleet uses it: ranges, puts under a lease, transactions and watches, over
etcd's HTTP/JSON gateway with the etcd3gw client, failing over between endpoints.

etcd3gw speaks to one endpoint; a fleet lists every member, so a call that cannot reach
one member tries the next. Watches are read here from the gateway's stream (etcd3gw's
watch thread drops a stream that ends without a word), so a lost member ends the watch
with StoreUnavailable and the caller syncs again from a fresh range.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Iterator

from ..errors import EunomiaError
from ..net import HeadersDeadline, http_url, interrupt, short_reason, watch_sockets
from ..valueclass import valueclass

CALL_TIMEOUT_S = 5
CALL_DEADLINE_S = 15            # for a whole call, however slowly the reply comes


class StoreError(EunomiaError):
    """etcd refused a request, or answered something unexpected."""


class StoreUnavailable(StoreError):
    """No etcd endpoint could be reached."""


@valueclass
class StoreOptions:
    """How to reach etcd: endpoints, TLS (a CA, a client certificate) and a user."""

    endpoints: list[str]
    cafile: str | None = None
    cert: str | None = None
    key: str | None = None
    user: str | None = None
    password: str | None = None


@valueclass(frozen=True)
class Entry:
    key: str
    value: bytes
    mod_revision: int
    lease: int = 0

    def json(self) -> dict | None:
        try:
            doc = json.loads(self.value)
        except ValueError:
            return None
        return doc if isinstance(doc, dict) else None


@valueclass(frozen=True)
class Change:
    """One watch event: a put (value set) or a delete (value None)."""

    key: str
    value: bytes | None
    mod_revision: int


def _number(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise StoreError(f"etcd answered {value!r} where a number belongs") from None


def _revision(reply: dict) -> int:
    header = reply.get("header")
    return _number(header.get("revision") if isinstance(header, dict) else None)


def _entry(kv) -> Entry | None:
    """A key-value of a reply; None for one that is not readable (a key that is not
    UTF-8 was not written by a fleet: it is passed over)."""
    if not isinstance(kv, dict):
        return None
    try:
        key = _unb64(kv.get("key")).decode()
        return Entry(key, _unb64(kv.get("value")), int(kv.get("mod_revision", 0)),
                     int(kv.get("lease", 0)))
    except (ValueError, TypeError):         # binascii.Error and UnicodeError are both
        return None


def _b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode()


def _unb64(text: str | None) -> bytes:
    return base64.b64decode(text or "")


def prefix_end(prefix: str) -> str:
    """The range end that covers every key starting with `prefix`."""
    raw = bytearray(prefix.encode())
    raw[-1] += 1
    return raw.decode()


def _endpoint(url: str) -> tuple[str, str, int]:
    try:
        parsed = http_url(url if "://" in url else f"http://{url}")
    except ValueError:          # another scheme, a port out of range, a broken [v6]
        raise StoreError(f"{url!r} is not an etcd endpoint (http[s]://HOST:PORT)") from None
    return parsed.scheme, parsed.hostname, parsed.port or 2379


class Store:
    """The etcd cluster behind `options.endpoints`."""

    def __init__(self, options: StoreOptions):
        import requests
        from etcd3gw import exceptions as etcd_exceptions
        self._requests, self._errors = requests, etcd_exceptions
        if not options.endpoints:
            raise StoreError("no etcd endpoint given")
        self.options = options
        for flag, path in (("--etcd-cacert", options.cafile), ("--etcd-cert", options.cert),
                           ("--etcd-key", options.key)):
            if path and not os.path.isfile(path):
                raise StoreError(f"{flag}: no file {path}")
        if bool(options.cert) != bool(options.key):
            raise StoreError("a client certificate needs its key (--etcd-cert with --etcd-key)")
        self._endpoints = [_endpoint(url) for url in options.endpoints]
        self._current = 0
        self._clients: dict[int, object] = {}
        self._lock = threading.Lock()
        self._watches: set = set()

    @property
    def endpoints(self) -> str:
        return ",".join(self.options.endpoints)

    def _client(self, index: int):
        client = self._clients.get(index)
        if client is None:
            from etcd3gw.client import Etcd3Client
            protocol, host, port = self._endpoints[index]
            session = self._requests.Session()
            if self.options.cafile:
                session.verify = self.options.cafile
                # requests lets $REQUESTS_CA_BUNDLE override a session's own CA
                session.trust_env = False
            if self.options.cert:
                session.cert = (self.options.cert, self.options.key)
            client = Etcd3Client(host=host, port=port, protocol=protocol,
                                 timeout=CALL_TIMEOUT_S, api_path="/v3/", session=session)
            client.eunomia_sockets = watch_sockets(session)
            if self.options.user:
                self._authenticate(client)
            self._clients[index] = client
        return client

    def _authenticate(self, client) -> None:
        client.session.headers.pop("Authorization", None)
        try:
            reply = client.post(client.get_url("/auth/authenticate"),
                                json={"name": self.options.user,
                                      "password": self.options.password or ""})
        except self._errors.Etcd3Exception as exc:
            if isinstance(exc, (self._errors.ConnectionFailedError,
                                self._errors.ConnectionTimeoutError)):
                raise
            raise StoreError(f"etcd refused user {self.options.user!r}: "
                             f"{_etcd_message(exc)}") from None
        client.session.headers["Authorization"] = reply["token"]

    def call(self, method: str, path: str, body: dict) -> dict:
        """POST /v3/PATH to the first member that answers."""
        errors = []
        for attempt in range(len(self._endpoints)):
            with self._lock:
                index = (self._current + attempt) % len(self._endpoints)
            deadline = None
            try:
                client = self._client(index)
                # the whole call, headers and body: a member that drips its reply (a
                # byte every few seconds passes each read's timeout) cannot hold an agent
                deadline = HeadersDeadline(client.eunomia_sockets.current(), CALL_DEADLINE_S)
                with deadline:
                    try:
                        reply = client.post(client.get_url(path), json=body)
                    except self._errors.Etcd3Exception as exc:
                        if self.options.user and "token" in str(exc).lower():
                            self._authenticate(client)          # the token expired
                            reply = client.post(client.get_url(path), json=body)
                        else:
                            raise
                if deadline.expired:
                    raise self._requests.exceptions.ConnectionError("cut off")
            except (self._errors.ConnectionFailedError, self._errors.ConnectionTimeoutError,
                    self._requests.exceptions.RequestException) as exc:
                self._clients.pop(index, None)
                reason = f"no answer within {CALL_DEADLINE_S} s" if deadline is not None \
                    and deadline.expired else short_reason(exc)
                errors.append(f"{self.options.endpoints[index]}: {reason}")
                continue
            except self._errors.Etcd3Exception as exc:
                if deadline is not None and deadline.expired:   # a reply cut off
                    self._clients.pop(index, None)
                    errors.append(f"{self.options.endpoints[index]}: no answer within "
                                  f"{CALL_DEADLINE_S} s")
                    continue
                raise StoreError(f"etcd {path}: {_etcd_message(exc)}") from None
            with self._lock:
                self._current = index
            if not isinstance(reply, dict):
                raise StoreError(f"etcd {path}: the gateway answered something else than "
                                 "a JSON object")
            return reply
        raise StoreUnavailable("cannot reach etcd (" + "; ".join(errors) + ")")

    # -- keys ---------------------------------------------------------------------------

    def range(self, prefix: str) -> tuple[list[Entry], int]:
        """Every key under `prefix`, and the store's revision they were read at."""
        reply = self.call("POST", "/kv/range", {"key": _b64(prefix),
                                                 "range_end": _b64(prefix_end(prefix))})
        entries = [_entry(kv) for kv in reply.get("kvs") or []]
        return [e for e in entries if e is not None], _revision(reply)

    def get(self, key: str) -> Entry | None:
        reply = self.call("POST", "/kv/range", {"key": _b64(key)})
        kvs = reply.get("kvs") or []
        return _entry(kvs[0]) if kvs else None

    def put(self, key: str, value: bytes, lease: int = 0) -> int:
        """Sets `key`; returns the revision of the write."""
        body = {"key": _b64(key), "value": _b64(value)}
        if lease:
            body["lease"] = str(lease)
        return _revision(self.call("POST", "/kv/put", body))

    def put_if(self, key: str, value: bytes, mod_revision: int, lease: int = 0) -> int | None:
        """Sets `key` only if it is unchanged since `mod_revision` (0: absent); the
        write's revision, or None when another writer came first."""
        request = {"key": _b64(key), "value": _b64(value)}
        if lease:
            request["lease"] = str(lease)
        reply = self.call("POST", "/kv/txn", {
            "compare": [{"key": _b64(key), "target": "MOD", "result": "EQUAL",
                         "mod_revision": str(mod_revision)}],
            "success": [{"request_put": request}]})
        return _revision(reply) if reply.get("succeeded") else None

    def delete(self, key: str, prefix: bool = False) -> int:
        """Deletes `key` (or every key under it); returns how many were deleted."""
        body = {"key": _b64(key)}
        if prefix:
            body["range_end"] = _b64(prefix_end(key))
        return _number(self.call("POST", "/kv/deleterange", body).get("deleted", 0))

    # -- leases -------------------------------------------------------------------------

    def grant(self, ttl: int) -> int:
        return _number(self.call("POST", "/lease/grant", {"TTL": ttl, "ID": 0}).get("ID"))

    def keep_alive(self, lease: int) -> bool:
        """Renews `lease`; False once it has expired (its keys are gone)."""
        reply = self.call("POST", "/lease/keepalive", {"ID": str(lease)})
        result = reply.get("result")
        return _number(result.get("TTL", -1) if isinstance(result, dict) else -1) > 0

    def revoke(self, lease: int) -> None:
        self.call("POST", "/kv/lease/revoke", {"ID": str(lease)})

    # -- watching -----------------------------------------------------------------------

    def cancel_watches(self) -> None:
        """Ends every watch now (a blocked read would otherwise wait for its timeout)."""
        for response in list(self._watches):
            interrupt(response)

    def watch(self, prefix: str, start_revision: int, stop: threading.Event,
              idle_s: float = 30) -> Iterator[Change]:
        """Changes under `prefix` from `start_revision` on, until `stop` is set; raises
        StoreUnavailable when the stream ends (a member went away): sync again then."""
        with self._lock:
            index = self._current
        try:
            client = self._client(index)
            response = client.session.post(
                client.get_url("/watch"), stream=True, timeout=(CALL_TIMEOUT_S, idle_s),
                json={"create_request": {"key": _b64(prefix), "range_end":
                                         _b64(prefix_end(prefix)),
                                         "start_revision": str(start_revision),
                                         "progress_notify": True}})
        except self._requests.exceptions.RequestException as exc:
            self._clients.pop(index, None)
            with self._lock:
                self._current = (index + 1) % len(self._endpoints)
            raise StoreUnavailable(f"cannot watch etcd at {self.options.endpoints[index]}: "
                                   f"{short_reason(exc)}") from None
        self._watches.add(response)
        if stop.is_set():
            interrupt(response)
        try:
            for line in response.iter_lines():
                if stop.is_set():
                    return
                if not line.strip():
                    continue
                chunk = json.loads(line)
                result = chunk.get("result") if isinstance(chunk, dict) else None
                if not isinstance(result, dict):
                    raise StoreUnavailable("the etcd watch sent something else than events")
                if result.get("canceled") or result.get("compact_revision"):
                    raise StoreUnavailable("etcd cancelled the watch (compacted); syncing")
                for event in result.get("events") or []:
                    entry = _entry(event.get("kv")) if isinstance(event, dict) else None
                    if entry is not None:
                        deleted = event.get("type") == "DELETE"
                        yield Change(entry.key, None if deleted else entry.value,
                                     entry.mod_revision)
        except self._requests.exceptions.ConnectionError as exc:
            if "timed out" in str(exc).lower():
                raise StoreUnavailable("the etcd watch was idle; syncing") from None
            raise StoreUnavailable(f"lost the etcd watch: {short_reason(exc)}") from None
        except (self._requests.exceptions.RequestException, ValueError) as exc:
            raise StoreUnavailable(f"lost the etcd watch: {short_reason(exc)}") from None
        finally:
            self._watches.discard(response)
            response.close()
        if not stop.is_set():
            with self._lock:
                self._current = (index + 1) % len(self._endpoints)
            raise StoreUnavailable("the etcd watch stream ended")


def _etcd_message(exc: Exception) -> str:
    for part in (getattr(exc, "detail_text", None), *getattr(exc, "args", ())):
        try:
            doc = json.loads(part)
            return str(doc.get("error") or doc.get("message") or part)
        except (TypeError, ValueError):
            continue
    return str(exc)[:200]
