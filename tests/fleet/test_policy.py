"""Agents that run only signed code, digests that are checked, and entries an agent
cannot read reported in the status (never passed over in silence), with a real etcd."""

from __future__ import annotations

import base64
import json
import subprocess

from tests.cli.conftest import ECLI
from tests.kernel.conftest import loaded_program_ids, wait_until
from tests.oci.conftest import oci_env, registry  # noqa: F401  (fixtures)
from tests.server.test_policy import key_pair, sign_file

from .conftest import fleet
from .test_fleet import PROGRAM, applied, running_copies, wait_nodes


def status_of(urls: str, name: str) -> str:
    return fleet(urls, "status", name).stdout


def test_an_agent_with_a_key_runs_only_signed_packages(etcd, agents, example_package,
                                                       tmp_path):
    store = etcd()
    before = loaded_program_ids([PROGRAM])
    key, pub = key_pair(tmp_path, "fleet")
    agents(store.urls, "strict", options=("--verify-key", pub))
    wait_nodes(store.urls, "strict")
    package = tmp_path / "exitsnoop.json"
    package.write_bytes(example_package("exitsnoop").read_bytes())
    applied(fleet(store.urls, "apply", package, "--name", "exits"))
    wait_until(lambda: "not signed" in status_of(store.urls, "exits"), 30,
               what="the status to say the package is not signed")
    assert running_copies(before) == 0
    sign_file(key, package)          # package.json.sig: apply sends it along
    applied(fleet(store.urls, "apply", package, "--name", "exits", "--wait",
                  "--timeout", "60"))
    assert running_copies(before) == 1
    applied(fleet(store.urls, "rm", "exits", "--wait"))


def test_entries_that_cannot_run_say_why_and_later_applies_converge(etcd, agents,
                                                                   example_package):
    store = etcd()
    before = loaded_program_ids([PROGRAM])
    agents(store.urls, "honest")
    wait_nodes(store.urls, "honest")
    prefix = "/eunomia/fleet/default/desired"
    content = example_package("exitsnoop").read_bytes()
    forged = {"name": "forged", "package": base64.b64encode(content).decode(),
              "digest": "sha256:" + "0" * 64}
    huge = {"name": "huge", "package": "A" * 1_480_000, "digest": ""}   # etcd takes 1.5 MiB
    alias = dict(forged, name="exits")      # its key says "alias": one name per entry
    for name, doc in (("forged", forged), ("huge", huge), ("alias", alias)):
        put = subprocess.run(["etcdctl", "--endpoints", store.urls, "put", f"{prefix}/{name}"],
                             input=json.dumps(doc), capture_output=True, text=True,
                             timeout=30, check=False)
        assert put.returncode == 0, put.stderr
    wait_until(lambda: "does not match the entry's digest" in status_of(store.urls, "forged"),
               30, what="the forged entry's status")
    wait_until(lambda: "more than an apply writes" in status_of(store.urls, "huge"), 30,
               what="the huge entry's status")
    wait_until(lambda: "names itself 'exits', not 'alias'" in status_of(store.urls, "alias"),
               30, what="the aliased entry's status")
    assert running_copies(before) == 0
    # the fleet still converges on what is well formed
    applied(fleet(store.urls, "apply", example_package("exitsnoop"), "--name", "exits",
                  "--wait", "--timeout", "60"))
    assert running_copies(before) == 1
    applied(fleet(store.urls, "rm", "exits", "--wait"))


def test_an_agent_with_a_state_dir_runs_one_copy_after_a_kill(etcd, agents, example_package,
                                                              tmp_path):
    """Fleet tasks are etcd's to keep: a state directory never brings a second copy."""
    store = etcd()
    before = loaded_program_ids([PROGRAM])
    options = ("--state-dir", tmp_path / "state")
    agent = agents(store.urls, "kept", options=options)
    wait_nodes(store.urls, "kept")
    applied(fleet(store.urls, "apply", example_package("exitsnoop"), "--name", "exits",
                  "--wait", "--timeout", "60"))
    assert running_copies(before) == 1
    agent.kill()
    wait_until(lambda: running_copies(before) == 0, 15, what="the killed agent's program")
    again = agents(store.urls, "kept", options=options)
    wait_until(lambda: len(again.tasks("exits")) == 1, 60, what="the restarted agent's task")
    assert running_copies(before) == 1 and len(again.tasks()) == 1
    applied(fleet(store.urls, "rm", "exits", "--wait"))


def test_images_applied_to_the_fleet_carry_their_signature(etcd, agents, registry,  # noqa: F811
                                                           oci_env, example_package,  # noqa: F811
                                                           tmp_path):
    """`ecli fleet apply IMAGE` stores the image's manifest and cosign signatures beside
    the package: an agent with --verify-key and --allowed-images checks them itself."""
    from tests.oci.test_registry import push
    from tests.server.test_policy import PASSWORD
    reg = registry("plain")
    store = etcd()
    before = loaded_program_ids([PROGRAM])
    key, pub = key_pair(tmp_path, "images")
    allowed, other = f"{reg.host}/tools/exitsnoop:1", f"{reg.host}/else/exitsnoop:1"
    for reference in (allowed, other):
        push(oci_env, reference, example_package("exitsnoop"))
        signed = subprocess.run(["env", *oci_env[1:], *PASSWORD, *ECLI, "sign", "--key", key,
                                 reference], capture_output=True, text=True, timeout=60,
                                check=False)
        assert signed.returncode == 0, signed.stderr
    agents(store.urls, "images", options=("--verify-key", pub, "--allowed-images",
                                          f"{reg.host}/tools/"))
    wait_nodes(store.urls, "images")

    def apply(reference: str, name: str, *flags: str):
        return subprocess.run(["env", *oci_env[1:], *ECLI, "fleet", "--etcd", store.urls,
                               "apply", reference, "--name", name, *flags],
                              capture_output=True, text=True, timeout=120, check=False)
    # signed, but not under the allowed prefix
    applied(apply(other, "elsewhere"))
    wait_until(lambda: "not an allowed image here" in status_of(store.urls, "elsewhere"), 30,
               what="the refusal in the status")
    applied(apply(allowed, "exits", "--wait", "--timeout", "60"))
    assert running_copies(before) == 1
    applied(fleet(store.urls, "rm", "exits", "--wait"))
