"""A signature policy wherever code runs: `ecli server --verify-key` runs only signed
packages (inline with their signature, images with cosign's), `--allowed-images` only
listed images; without a policy a server reachable beyond loopback says it runs unsigned
code. Against a real registry on loopback."""

from __future__ import annotations

import json
import subprocess

import pytest

from eunomia.cli.client import ClientError
from tests.cli.conftest import ECLI, one_error_line, run_ecli
from tests.kernel.conftest import exit_child, wait_until
from tests.oci.conftest import oci_env, registry  # noqa: F401  (fixtures)
from tests.oci.test_registry import push

from .conftest import RunningServer, pytestmark, start_body  # noqa: F401

PASSWORD = ("COSIGN_PASSWORD=policy test",)


def key_pair(tmp_path, name: str, env=()) -> tuple:
    made = run_ecli("generate-key-pair", "--output-key-prefix", tmp_path / name,
                    prefix=("env", *env[1:], *PASSWORD) if env else ("env", *PASSWORD))
    assert made.returncode == 0, made.stderr
    return tmp_path / f"{name}.key", tmp_path / f"{name}.pub"


def sign_file(key, path) -> str:
    signed = run_ecli("sign", "--key", key, path, prefix=("env", *PASSWORD))
    assert signed.returncode == 0, signed.stderr
    return (path.parent / f"{path.name}.sig").read_text().strip()


def client_start(server: RunningServer, package, *options) -> subprocess.CompletedProcess:
    return subprocess.run([*ECLI, "client", "-e", server.url, "start", *options, str(package)],
                          capture_output=True, text=True, timeout=60, check=False)


def test_a_server_with_a_key_runs_only_signed_packages(server, exitsnoop_package, tmp_path):
    key, pub = key_pair(tmp_path, "cosign")
    other_key, _ = key_pair(tmp_path, "other")
    running = server("--verify-key", pub)
    client = running.client()
    with pytest.raises(ClientError, match=r"not signed.*HTTP 403"):
        client.call("POST", "/task", start_body(exitsnoop_package))
    package = tmp_path / "exitsnoop.json"
    package.write_bytes(exitsnoop_package)
    # signed by another key: refused
    sign_file(other_key, package)
    one_error_line(client_start(running, package), "does not verify")
    # signed by the server's key: `ecli client start` sends package.json.sig along
    sign_file(key, package)
    started = client_start(running, package, "--export-json")
    assert started.returncode == 0, started.stderr
    task = client.call("GET", "/task")["tasks"][0]
    pid = exit_child(6)
    wait_until(lambda: any(json.loads(e["text"]).get("pid") == pid for e in client.call(
        "POST", "/log", {"id": task["id"]})["log"] if e["kind"] == "event"), 15,
        what="the signed task's record of the child")
    # a signature does not carry over to other bytes
    body = start_body(exitsnoop_package + b" ",
                      program_signature=(tmp_path / "exitsnoop.json.sig").read_text())
    with pytest.raises(ClientError, match="does not verify"):
        client.call("POST", "/task", body)


def test_signed_and_allowed_images_through_program_ref(server, registry, oci_env,  # noqa: F811
                                                       exitsnoop_package, tmp_path):
    reg = registry("plain")
    package = tmp_path / "package.json"
    package.write_bytes(exitsnoop_package)
    signed_ref, unsigned_ref = (f"{reg.host}/tools/exitsnoop:1", f"{reg.host}/other/x:1")
    push(oci_env, signed_ref, package)
    push(oci_env, unsigned_ref, package)
    key, pub = key_pair(tmp_path, "cosign")
    signed = run_ecli("sign", "--key", key, signed_ref, prefix=(*oci_env, *PASSWORD))
    assert signed.returncode == 0, signed.stderr
    running = server("--verify-key", pub, "--allowed-images", f"{reg.host}/tools/",
                     "--allow-ref-host", "127.0.0.1")
    client = running.client()
    with pytest.raises(ClientError, match=r"not an allowed image.*HTTP 403"):
        client.call("POST", "/task", {"program_ref": unsigned_ref})
    with pytest.raises(ClientError, match=r"only images from .* not packages sent inline"):
        client.call("POST", "/task", start_body(exitsnoop_package))
    task = client.call("POST", "/task", {"program_ref": signed_ref})
    assert task["status"] == "running"
    client.call("POST", "/stop", {"id": task["id"]})
    # allowed but not signed by the key
    push(oci_env, f"{reg.host}/tools/unsigned:1", package)
    with pytest.raises(ClientError, match="no valid signature by this key"):
        client.call("POST", "/task", {"program_ref": f"{reg.host}/tools/unsigned:1"})


def test_a_server_beyond_loopback_without_a_policy_says_so(tmp_path):
    token = tmp_path / "token"
    token.write_text("policy-token")
    # 0.0.0.0 on a free port: it only listens; nothing outside this machine is reached
    running = RunningServer("--addr", "0.0.0.0", "--token-file", token)
    try:
        wait_until(lambda: any("runs unsigned code" in line for line in running.lines), 10,
                   what="the warning")
    finally:
        running.stop()
    quiet = RunningServer()
    try:
        assert not any("unsigned" in line for line in quiet.lines)
    finally:
        quiet.stop()
