"""ecli push / pull / run / image / sign against a real registry on loopback."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.cli.conftest import ECLI, one_error_line, run_ecli
from tests.kernel.conftest import exit_child

from .conftest import PASSWORD, USER

pytestmark = pytest.mark.kernel


def push(env, reference, module, *options):
    result = run_ecli("push", "-m", module, *options, reference, prefix=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().rsplit("@", 1)[1]


def run_and_see_exit(ecli, env, *args) -> None:
    """`ecli run --json ARGS` decodes the exit of a child started here."""
    run = ecli("--json", *args, prefix=env)
    run.wait_attached()
    pid = exit_child(5)
    event = run.wait_event(lambda e: e["pid"] == pid, what=f"the exit of pid {pid}")
    assert event["exit_code"] == 5 and event["comm"] == "sh"
    assert run.stop(signal.SIGINT) == 0


def test_push_pull_run_decodes_a_childs_exit(registry, oci_env, example_package, ecli,
                                              tmp_path):
    reg = registry("plain")
    package = example_package("exitsnoop")
    reference = f"{reg.host}/tools/exitsnoop:1"
    digest = push(oci_env, reference, package)
    pulled = tmp_path / "pulled.json"
    assert run_ecli("pull", "-o", pulled, reference, prefix=oci_env).returncode == 0
    assert pulled.read_bytes() == package.read_bytes()
    run_and_see_exit(ecli, oci_env, reference)
    # pinned by digest, and the manifest as pushed: annotations from the package's doc
    run_and_see_exit(ecli, oci_env, f"{reg.host}/tools/exitsnoop@{digest}")
    shown = run_ecli("image", "inspect", "--json", reference, prefix=oci_env)
    inspected = json.loads(shown.stdout)
    assert inspected["digest"] == digest
    annotations = inspected["manifest"]["annotations"]
    assert annotations["org.opencontainers.image.title"] == "exitsnoop"
    assert annotations["org.opencontainers.image.version"] == "0.1.0"
    assert "process exits" in annotations["org.opencontainers.image.description"]
    layer = inspected["manifest"]["layers"][0]
    assert layer["mediaType"] == "application/vnd.eunomia.package.v1+json"
    assert layer["annotations"]["org.opencontainers.image.title"] == "package.json"
    assert inspected["manifest"]["artifactType"] == "application/vnd.eunomia.package.v1"
    assert inspected["programs"] == [{"name": "handle_exit",
                                      "section": "tp/sched/sched_process_exit"}]
    assert any("--targ_pid" in flag["flag"] for flag in inspected["flags"])


def test_a_second_run_works_with_the_registry_stopped(registry, oci_env, example_package,
                                                       ecli):
    reg = registry("plain")
    reference = f"{reg.host}/tools/exitsnoop:cached"
    push(oci_env, reference, example_package("exitsnoop"))
    fresh_cache = (*oci_env[:1], oci_env[1] + "-fresh", *oci_env[2:])
    assert run_ecli("pull", "-o", "/dev/null", reference, prefix=fresh_cache).returncode == 0
    reg.stop()
    run_and_see_exit(ecli, fresh_cache, reference)
    listed = run_ecli("image", "ls", "--json", prefix=fresh_cache).stdout
    assert reference in [json.loads(line)["reference"] for line in listed.splitlines()]
    # asking the registry is what fails now, with one clear line
    one_error_line(run_ecli("run", "--pull", "always", reference, prefix=fresh_cache),
                   f"cannot reach registry {reg.host}", "connection refused")
    removed = run_ecli("image", "rm", reference, prefix=fresh_cache)
    assert removed.returncode == 0, removed.stderr
    one_error_line(run_ecli("run", "--pull", "never", reference, prefix=fresh_cache),
                   "not in the cache")


def test_basic_auth_wrong_password_and_stored_credentials(registry, oci_env,
                                                          example_package, ecli):
    reg = registry("auth")
    package = example_package("exitsnoop")
    reference = f"{reg.host}/secure/exitsnoop:1"
    one_error_line(run_ecli("push", "-m", package, reference, prefix=oci_env),
                   f"registry {reg.host} needs credentials")
    one_error_line(run_ecli("push", "-m", package, "-u", USER, "-p", "wrong", reference,
                            prefix=oci_env), f"refused the credentials of user '{USER}'")
    push(oci_env, reference, package, "-u", USER, "-p", PASSWORD)
    one_error_line(run_ecli("pull", "-u", USER, "-p", "wrong", reference, prefix=oci_env),
                   "refused the credentials")
    # `ecli login` checks and stores them where docker keeps them; `run` then finds them
    login = subprocess.run([*oci_env, *ECLI, "login", "-u", USER,
                            "--password-stdin", reg.host], input=PASSWORD + "\n",
                           capture_output=True, text=True, timeout=60, check=False)
    assert login.returncode == 0, login.stderr
    docker_config = Path(oci_env[2].split("=", 1)[1]) / "config.json"
    config = json.loads(docker_config.read_text())
    assert reg.host in config["auths"]
    run_and_see_exit(ecli, oci_env, reference)


def test_tls_with_a_private_ca(registry, oci_env, example_package):
    reg = registry("tls")
    package = example_package("exitsnoop")
    reference = f"{reg.host}/tls/exitsnoop:1"
    one_error_line(run_ecli("push", "-m", package, reference, prefix=oci_env),
                   "TLS failed", "certificate verify failed", "--cafile")
    push(oci_env, reference, package, "--cafile", reg.ca)
    pulled = run_ecli("pull", "--cafile", reg.ca, "-o", "-", reference, prefix=oci_env)
    assert pulled.returncode == 0 and pulled.stdout.encode() == package.read_bytes()
    # --insecure: any certificate, said explicitly
    insecure = run_ecli("pull", "--insecure", "-o", "-", reference, prefix=oci_env)
    assert insecure.returncode == 0 and insecure.stdout.encode() == package.read_bytes()


def test_a_docker_credential_helper_gives_the_credentials(registry, oci_env,
                                                          example_package, tmp_path):
    """credHelpers in the docker config: `docker-credential-NAME get` answers with the
    user and secret for the host it reads on stdin."""
    reg = registry("auth")
    helper = tmp_path / "bin" / "docker-credential-eunomiatest"
    helper.parent.mkdir()
    helper.write_text(f"#!/bin/sh\nread host\n[ \"$host\" = \"{reg.host}\" ] || exit 1\n"
                      f"echo '{{\"Username\": \"{USER}\", \"Secret\": \"{PASSWORD}\"}}'\n")
    helper.chmod(0o755)
    docker_config = Path(oci_env[2].split("=", 1)[1]) / "config.json"
    docker_config.write_text(json.dumps({"credHelpers": {reg.host: "eunomiatest"}}))
    env = (*oci_env, f"PATH={helper.parent}:{os.environ['PATH']}")
    push(env, f"{reg.host}/helped/exitsnoop:1", example_package("exitsnoop"))
    docker_config.write_text(json.dumps({"credHelpers": {reg.host: "missing"}}))
    one_error_line(run_ecli("pull", f"{reg.host}/helped/exitsnoop:1", prefix=env),
                   "docker-credential-missing, which is not installed")


def test_missing_tag_wrong_digest_and_tampered_blob(registry, oci_env, example_package,
                                                    tmp_path):
    reg = registry("plain")
    package = example_package("exitsnoop")
    reference = f"{reg.host}/tools/exitsnoop:1"
    push(oci_env, reference, package)
    one_error_line(run_ecli("run", f"{reg.host}/tools/exitsnoop:nope", prefix=oci_env),
                   "exitsnoop:nope: not found", "MANIFEST_UNKNOWN")
    wrong = "sha256:" + "0" * 64
    one_error_line(run_ecli("pull", f"{reg.host}/tools/exitsnoop@{wrong}", prefix=oci_env),
                   "not found")
    one_error_line(run_ecli("run", "not a ref:x", prefix=oci_env), "cannot read")
    # the registry serves a changed blob: the digest check refuses it
    inspected = json.loads(run_ecli("image", "inspect", "--json", reference,
                                    prefix=oci_env).stdout)
    layer = inspected["manifest"]["layers"][0]["digest"]
    blob = reg.blob_path(layer)
    blob.write_bytes(blob.read_bytes().replace(b"handle_exit", b"handle_exiT"))
    fresh = (*oci_env[:1], oci_env[1] + "-other", *oci_env[2:])
    one_error_line(run_ecli("run", reference, prefix=fresh),
                   f"blob {layer}", "tampered with or truncated")


def test_wasm_modules_and_tar_packages_round_trip_byte_for_byte(registry, oci_env,
                                                                 example_package, tmp_path):
    reg = registry("plain")
    wasm = tmp_path / "app.wasm"
    wasm.write_bytes(b"\0asm\x01\0\0\0" + os.urandom(300))
    push(oci_env, f"{reg.host}/wasm/app:1", wasm)
    back = tmp_path / "back.wasm"
    assert run_ecli("pull", "-o", back, f"{reg.host}/wasm/app:1",
                    prefix=oci_env).returncode == 0
    assert back.read_bytes() == wasm.read_bytes()
    manifest = json.loads(run_ecli("image", "inspect", "--json", f"{reg.host}/wasm/app:1",
                                   prefix=oci_env).stdout)["manifest"]
    # upstream eunomia-bpf's layout, which its `ecli pull` reads
    assert manifest["layers"][0]["mediaType"] == "application/vnd.wasm.content.layer.v1+wasm"
    assert manifest["config"]["mediaType"] == "application/vnd.wasm.config.v1+json"
    one_error_line(run_ecli("run", f"{reg.host}/wasm/app:1", prefix=oci_env),
                   "not a valid Wasm module")

    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w") as archive:
        for name, data in (("package.json", example_package("exitsnoop").read_bytes()),
                           ("btf/debian/12/x86_64/6.1.0-1.btf", os.urandom(100))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    tar = tmp_path / "exitsnoop.tar"
    tar.write_bytes(packed.getvalue())
    push(oci_env, f"{reg.host}/tar/exitsnoop:1", tar)
    back = tmp_path / "back.tar"
    assert run_ecli("pull", "-o", back, f"{reg.host}/tar/exitsnoop:1",
                    prefix=oci_env).returncode == 0
    assert back.read_bytes() == tar.read_bytes()


def test_signatures_by_key_gate_the_run(registry, oci_env, example_package, ecli, tmp_path):
    reg = registry("plain")
    reference = f"{reg.host}/signed/exitsnoop:1"
    push(oci_env, reference, example_package("exitsnoop"))
    keys = (*oci_env, "COSIGN_PASSWORD=correct horse")
    made = run_ecli("generate-key-pair", "--output-key-prefix", tmp_path / "cosign",
                    prefix=keys)
    assert made.returncode == 0, made.stderr
    assert b"ENCRYPTED SIGSTORE PRIVATE KEY" in (tmp_path / "cosign.key").read_bytes()
    one_error_line(run_ecli("run", "--verify-key", tmp_path / "cosign.pub", reference,
                            prefix=oci_env), "no valid signature by this key")
    wrong = (*oci_env, "COSIGN_PASSWORD=wrong")
    one_error_line(run_ecli("sign", "--key", tmp_path / "cosign.key", reference,
                            prefix=wrong), "wrong password")
    signed = run_ecli("sign", "--key", tmp_path / "cosign.key", reference, prefix=keys)
    assert signed.returncode == 0, signed.stderr
    run_and_see_exit(ecli, oci_env, "--verify-key", tmp_path / "cosign.pub", reference)
    # another key's public half does not vouch for it
    other = run_ecli("generate-key-pair", "--output-key-prefix", tmp_path / "other",
                     prefix=keys)
    assert other.returncode == 0
    one_error_line(run_ecli("run", "--verify-key", tmp_path / "other.pub", reference,
                            prefix=oci_env), "no valid signature by this key")
    # a file is not an image: --verify-key says so instead of running it unchecked
    one_error_line(run_ecli("run", "--verify-key", tmp_path / "cosign.pub",
                            example_package("exitsnoop"), prefix=oci_env),
                   "--verify-key checks images")


def test_client_start_and_exporter_config_take_references(registry, oci_env, example_package,
                                                          tmp_path):
    """`ecli client start REF` (the client pulls, the server gets the content) and the
    exporter config's compiled_ebpf_filename both read images."""
    from tests.server.conftest import RunningServer

    reg = registry("plain")
    reference = f"{reg.host}/tools/exitsnoop:1"
    push(oci_env, reference, example_package("exitsnoop"))
    server = RunningServer()
    try:
        started = run_ecli("client", "-e", server.url, "start", reference, prefix=oci_env)
        assert started.returncode == 0, started.stderr
        assert "started task" in started.stdout and "(exitsnoop)" in started.stdout
    finally:
        server.stop()

    config = tmp_path / "config.yaml"
    config.write_text(f"programs:\n  - name: exits\n    compiled_ebpf_filename: {reference}\n"
                      "    metrics:\n      counters:\n        - name: exits\n"
                      "          description: exits\n          labels: [{name: comm}]\n")
    checked = subprocess.run(
        [*oci_env, "python3", "-c", ("import sys; from eunomia.exporter.config import "
                                     "load_config; c = load_config(sys.argv[1]); "
                                     "print(c.programs[0].package.meta.bpf_skel.obj_name)"),
         str(config)], capture_output=True, text=True, timeout=60,
        check=False)
    assert checked.returncode == 0 and checked.stdout.strip() == "exitsnoop", checked.stderr


def test_the_bearer_token_flow(registry, oci_env, example_package, tmp_path):
    """A registry behind a token service: the challenge's realm gives a token for the
    credentials and the scope the registry names (push too, to push), which the requests then carry."""
    reg = registry("token")
    package = example_package("exitsnoop")
    reference = f"{reg.host}/team/exitsnoop:1"
    one_error_line(run_ecli("push", "-m", package, reference, prefix=oci_env),
                   f"registry {reg.host} needs credentials")
    one_error_line(run_ecli("push", "-m", package, "-u", USER, "-p", "wrong", reference,
                            prefix=oci_env), "refused the credentials")
    push(oci_env, reference, package, "-u", USER, "-p", PASSWORD)
    assert any(scope.startswith("repository:team/exitsnoop:") and "push" in scope
               for scope in reg.tokens.issued), reg.tokens.issued
    pulled = tmp_path / "pulled.json"
    fresh = (*oci_env[:1], oci_env[1] + "-fresh", *oci_env[2:])
    result = run_ecli("pull", "-u", USER, "-p", PASSWORD, "-o", pulled, reference,
                      prefix=fresh)
    assert result.returncode == 0, result.stderr
    assert pulled.read_bytes() == package.read_bytes()
    assert "repository:team/exitsnoop:pull" in reg.tokens.issued


def test_a_hostile_registry_gets_one_clear_line(oci_env):
    """A server that speaks the API but sends broken manifests: descriptors that are not
    objects, a huge error body. (A fake on purpose: a real registry refuses to store
    such manifests.)"""
    import http.server
    import threading

    manifests = {"numbers": b'{"schemaVersion":2,"layers":[5]}',
                 "nolist": b'{"schemaVersion":2,"layers":"x","annotations":[1]}',
                 "array": b"[1, 2]"}

    class Hostile(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            name = self.path.split("/")[-1]
            if self.path == "/v2/":
                body, status = b"{}", 200
            elif name in manifests:
                body, status = manifests[name], 200
            else:
                body, status = b"x" * (8 << 20), 404       # an 8 MiB error page
            self.send_response(status)
            self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_HEAD = do_GET

        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host = f"127.0.0.1:{server.server_address[1]}"
    try:
        one_error_line(run_ecli("pull", f"{host}/x/y:numbers", prefix=oci_env),
                       "broken descriptor")
        one_error_line(run_ecli("pull", f"{host}/x/y:nolist", prefix=oci_env),
                       "'layers' is not a list")
        one_error_line(run_ecli("run", f"{host}/x/y:array", prefix=oci_env),
                       "not a JSON object")
        one_error_line(run_ecli("pull", f"{host}/x/y:missing", prefix=oci_env),
                       "not found")
    finally:
        server.shutdown()
        server.server_close()
