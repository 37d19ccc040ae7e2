"""Registry credentials, found where Docker, Podman and ORAS keep them.

`~/.docker/config.json` (or `$DOCKER_CONFIG/config.json`): `auths[HOST].auth` (base64
`user:password`), and credential helpers (`credHelpers[HOST]`, `credsStore`), which are
the `docker-credential-NAME get` programs the Docker ecosystem shares.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import subprocess
from pathlib import Path

from ..errors import RegistryAuthError
from ..valueclass import valueclass

HELPER_TIMEOUT_S = 30


@valueclass(frozen=True)
class Credentials:
    username: str
    password: str

    def __repr__(self) -> str:            # never a password in a log or a traceback
        return f"Credentials(username={self.username!r}, password=***)"


def docker_config_path() -> Path:
    base = os.environ.get("DOCKER_CONFIG")
    return Path(base) / "config.json" if base else Path.home() / ".docker" / "config.json"


def _load_config(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise RegistryAuthError(f"cannot read credentials from {path}: {exc}") from None
    return doc if isinstance(doc, dict) else {}


def _host_of(key: str) -> str:
    """'https://index.docker.io/v1/' -> 'index.docker.io'; 'host:5000' stays."""
    for prefix in ("https://", "http://"):
        key = key.removeprefix(prefix)
    return key.split("/", 1)[0]


def _decode_auth(value: str, path: Path, host: str) -> Credentials:
    try:
        user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, ValueError):          # not base64 (non-ASCII too), not UTF-8
        raise RegistryAuthError(f"{path}: the auth of {host} is not base64 of "
                                "user:password") from None
    return Credentials(user, password)


def _from_helper(helper: str, host: str) -> Credentials | None:
    program = f"docker-credential-{helper}"
    try:
        done = subprocess.run([program, "get"], input=host.encode(), capture_output=True,
                              timeout=HELPER_TIMEOUT_S, check=False)
    except FileNotFoundError:
        raise RegistryAuthError(f"the docker config names the credential helper "
                                f"{program}, which is not installed") from None
    except subprocess.TimeoutExpired:
        raise RegistryAuthError(f"{program} did not answer within {HELPER_TIMEOUT_S} s") \
            from None
    if done.returncode != 0:
        return None                     # "credentials not found in native keychain"
    try:
        reply = json.loads(done.stdout)
        return Credentials(str(reply["Username"]), str(reply["Secret"]))
    except (ValueError, KeyError, TypeError):
        raise RegistryAuthError(f"{program} answered something else than credentials") \
            from None


def _mapping(config: dict, key: str) -> dict:
    found = config.get(key)
    return found if isinstance(found, dict) else {}


def stored_credentials(registry: str, path: Path | None = None) -> Credentials | None:
    """The credentials the docker config holds for `registry` (host[:port]), if any."""
    path = path or docker_config_path()
    config = _load_config(path)
    helpers, auths = _mapping(config, "credHelpers"), _mapping(config, "auths")
    helper = helpers.get(registry)
    if isinstance(helper, str):
        return _from_helper(helper, registry)
    for key, entry in auths.items():
        if _host_of(key) == registry and isinstance(entry, dict):
            if isinstance(entry.get("auth"), str) and entry["auth"]:
                return _decode_auth(entry["auth"], path, registry)
            if isinstance(entry.get("username"), str):
                return Credentials(entry["username"], str(entry.get("password", "")))
    store = config.get("credsStore")
    if isinstance(store, str) and store:
        return _from_helper(store, registry)
    return None


def save_credentials(registry: str, credentials: Credentials, path: Path | None = None) -> Path:
    """Writes `auths[registry]` into the docker config (mode 0600), keeping the rest."""
    path = path or docker_config_path()
    config = _load_config(path)
    token = base64.b64encode(f"{credentials.username}:{credentials.password}".encode())
    auths = _mapping(config, "auths")
    auths[registry] = {"auth": token.decode()}
    config["auths"] = auths
    _write_config(path, config)
    return path


def forget_credentials(registry: str, path: Path | None = None) -> bool:
    path = path or docker_config_path()
    config = _load_config(path)
    auths = _mapping(config, "auths")
    gone = [key for key in auths if _host_of(key) == registry]
    for key in gone:
        del auths[key]
    if gone:
        config["auths"] = auths
        _write_config(path, config)
    return bool(gone)


def _write_config(path: Path, config: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(config, out, indent=2)
        os.replace(temporary, path)
    except OSError as exc:
        raise RegistryAuthError(f"cannot write {path}: {exc.strerror or exc}") from None
