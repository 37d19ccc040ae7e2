"""A Wasm module through the other front ends: a server task (`ecli client start`), and
an image in a real registry (`ecli push`, then `ecli run REF`)."""

from __future__ import annotations

import re
import subprocess

from tests.cli.conftest import ECLI, needs_root, run_ecli, wait_until
from tests.fleet.conftest import agents, etcd  # noqa: F401 (fixtures)
from tests.kernel.conftest import exit_child, loaded_programs
from tests.oci.conftest import REGISTRY, oci_env, registry  # noqa: F401 (fixtures)
from tests.server.conftest import server  # noqa: F401 (fixture)

pytestmark = needs_root


def test_a_server_task_runs_a_module_with_its_output_in_the_log(server, exits_guest):  # noqa: F811
    running = server()
    before = sum(name == "handle_exit" for name in loaded_programs().values())

    def client(*args):
        return subprocess.run([*ECLI, "client", "-e", running.url, *map(str, args)],
                              capture_output=True, text=True, timeout=60, check=False)
    started = client("start", exits_guest, "0")
    assert started.returncode == 0, started.stderr
    task = re.search(r"started task (\d+) \(exits.wasm\)", started.stdout).group(1)
    wait_until(lambda: "attached" in client("log", task).stdout, 30, what="the guest")
    pid = exit_child(6)
    wait_until(lambda: f"{pid} 6 sh" in client("log", task).stdout, 20,
               what="the exit in the task log")
    assert client("stop", task).returncode == 0
    log = client("log", task).stdout.splitlines()
    assert log[-2:] == ["stopping", "[info] stopped"], log[-4:]
    assert sum(name == "handle_exit" for name in loaded_programs().values()) <= before
    trapped = client("start", exits_guest, "badptr")
    task = re.search(r"started task (\d+)", trapped.stdout).group(1)
    wait_until(lambda: "failed" in client("list").stdout, 30, what="the trap")
    assert "the guest trapped" in client("log", task).stdout


def test_push_and_run_an_image(registry, oci_env, exits_guest):  # noqa: F811
    if REGISTRY is None:
        import pytest
        pytest.skip("docker-registry is not installed (./scripts/setup-test)")
    reg = registry("plain")
    reference = f"{reg.host}/wasm/exits:1"
    pushed = run_ecli("push", "-m", exits_guest, reference, prefix=oci_env)
    assert pushed.returncode == 0, pushed.stderr
    result = run_ecli("run", reference, "map", prefix=oci_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "lookup 0 1"


def test_fleet_apply_runs_a_module_on_an_agent(etcd, agents, exits_guest):  # noqa: F811
    from tests.fleet.conftest import fleet
    store = etcd()
    node = agents(store.urls, "node-wasm")
    wait_until(lambda: "node-wasm" in fleet(store.urls, "nodes").stdout, 30,
               what="the agent to register")
    applied = fleet(store.urls, "apply", exits_guest, "--name", "exits-wasm", "--wait",
                    "--", "0")
    assert applied.returncode == 0, applied.stderr
    task = node.tasks("exits-wasm")[0]
    pid = exit_child(8)
    wait_until(lambda: f"{pid} 8 sh" in node.log_text(task["id"]), 20,
               what="the exit in the agent's task log")
    removed = fleet(store.urls, "rm", "exits-wasm", "--wait")
    assert removed.returncode == 0, removed.stderr
    wait_until(lambda: not node.tasks("exits-wasm"), 20, what="the task to go")
