"""`ecli fleet` and `ecli server --fleet` against a real etcd, with real programs."""

from __future__ import annotations

import subprocess

from tests.cli.conftest import one_error_line
from tests.kernel.conftest import exit_child, loaded_program_ids, wait_until

from .conftest import fleet, pytestmark  # noqa: F401  (the module's marks)

PROGRAM = "handle_exit"          # exitsnoop's program, counted with bpftool


def applied(result) -> None:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def wait_nodes(urls: str, *names: str) -> None:
    """--wait covers the nodes registered when it looks: let every agent register."""
    wait_until(lambda: all(n in fleet(urls, "nodes").stdout for n in names), 30,
               interval=0.2, what=f"nodes {', '.join(names)} to register")


def running_copies(before: set[int]) -> int:
    return len(loaded_program_ids([PROGRAM]) - before)


def test_apply_update_select_and_remove_on_three_agents(etcd, agents, example_package):
    store = etcd()
    before = loaded_program_ids([PROGRAM])
    nodes = [agents(store.urls, f"node-{i}", f"zone={'a' if i < 2 else 'b'}")
             for i in range(3)]
    package = example_package("exitsnoop")
    wait_nodes(store.urls, *(n.node for n in nodes))

    applied(fleet(store.urls, "apply", package, "--name", "exits", "--wait"))
    assert running_copies(before) == 3
    pid = exit_child(7)
    for node in nodes:
        task = node.tasks("exits")[0]
        wait_until(lambda n=node, t=task: f" {pid} " in f" {n.log_text(t['id'])} ", 15,
                   what=f"pid {pid} in the log of {node.node}")
    status = fleet(store.urls, "status", "exits").stdout
    assert all(f"node-{i}" in status for i in range(3)) and "running" in status
    # an agent's GET /fleet: the same records, typed in its OpenAPI document
    view = nodes[0].client.call("GET", "/fleet")
    assert {s["node"] for s in view["status"] if s["name"] == "exits"} == \
        {"node-0", "node-1", "node-2"}
    assert {s["state"] for s in view["status"]} == {"running"}
    assert [d["name"] for d in view["desired"]] == ["exits"]
    schemas = nodes[0].client.call("GET", "/openapi.json")["components"]["schemas"]
    assert schemas["FleetView"]["properties"]["nodes"]["items"]["$ref"].endswith("NodeRecord")

    # v2: other flags -> each agent replaces its task, and ends with one copy
    applied(fleet(store.urls, "apply", package, "--name", "exits", "--wait", "--",
                  "--targ_pid", str(pid)))
    for node in nodes:
        wait_until(lambda n=node: len(n.tasks("exits")) == 1, 15, what="one live task")
        assert node.tasks("exits")[0]["id"] != task["id"] or node is not nodes[-1]
    wait_until(lambda: running_copies(before) == 3, 15, what="the old copies to go")
    # the same again changes nothing
    again = fleet(store.urls, "apply", package, "--name", "exits", "--", "--targ_pid",
                  str(pid))
    applied(again)
    assert again.stdout.startswith("unchanged")

    # a selector: only zone=b
    applied(fleet(store.urls, "apply", package, "--name", "exits-b", "--selector", "zone=b",
                  "--wait"))
    assert [len(n.tasks("exits-b")) for n in nodes] == [0, 0, 1]
    assert running_copies(before) == 4

    applied(fleet(store.urls, "rm", "exits", "--wait"))
    applied(fleet(store.urls, "rm", "exits-b", "--wait"))
    wait_until(lambda: running_copies(before) == 0, 15, what="no program of the fleet")
    assert all(not n.tasks() for n in nodes)
    listed = fleet(store.urls, "ls")
    assert "exits" not in listed.stdout


def test_a_killed_agent_leaves_the_status_and_a_restart_runs_one_copy(etcd, agents,
                                                                       example_package):
    store = etcd()
    before = loaded_program_ids([PROGRAM])
    stays = agents(store.urls, "stays")
    dies = agents(store.urls, "dies", ttl=2)
    wait_nodes(store.urls, "stays", "dies")
    applied(fleet(store.urls, "apply", example_package("exitsnoop"), "--name", "exits",
                  "--wait"))
    assert running_copies(before) == 2
    dies.kill()
    # its links died with it; its node and status leave with its lease
    wait_until(lambda: running_copies(before) == 1, 15, what="the killed agent's program")
    wait_until(lambda: "dies" not in fleet(store.urls, "status").stdout, 15,
               what="the killed agent's status to expire")
    assert "dies" not in fleet(store.urls, "nodes").stdout
    # restarted (the same node name): it finds the desired state and runs one copy
    again = agents(store.urls, "dies")
    wait_until(lambda: len(again.tasks("exits")) == 1, 30, what="the restarted agent's task")
    wait_until(lambda: running_copies(before) == 2, 15, what="two copies in all")
    assert len(stays.tasks("exits")) == 1
    nodes = fleet(store.urls, "nodes").stdout
    assert "dies" in nodes and "stays" in nodes


def test_the_fleet_converges_with_one_etcd_member_of_three_down(etcd, agents,
                                                                example_package):
    cluster = etcd(members=3)
    before = loaded_program_ids([PROGRAM])
    nodes = [agents(cluster.urls, f"node-{i}") for i in range(3)]
    package = example_package("exitsnoop")
    wait_nodes(cluster.urls, *(n.node for n in nodes))
    applied(fleet(cluster.urls, "apply", package, "--name", "exits", "--wait"))
    # the member every client tries first goes away; the next apply still lands everywhere
    cluster.members[0].stop()
    applied(fleet(cluster.urls, "apply", package, "--name", "exits", "--wait", "--timeout",
                  "60", "--", "--targ_pid", "1"))
    for node in nodes:
        wait_until(lambda n=node: len(n.tasks("exits")) == 1, 15, what="one live task")
    wait_until(lambda: running_copies(before) == 3, 15, what="one copy per node")
    applied(fleet(cluster.urls, "rm", "exits", "--wait"))


def test_an_agent_started_without_etcd_serves_locally_and_joins_later(etcd, agents,
                                                                      example_package):
    store = etcd(start=False)
    agent = agents(store.urls, "early")
    wait_until(lambda: any("cannot reach etcd" in line for line in agent.lines), 15,
               what="the agent to say etcd is out of reach")
    problem = next(line for line in agent.lines if "cannot reach etcd" in line)
    assert "retrying" in problem and "Traceback" not in "\n".join(agent.lines)
    assert agent.client.call("GET", "/health") == {"status": "ok"}
    assert agent.tasks() == []
    store.start()
    wait_nodes(store.urls, "early")
    applied(fleet(store.urls, "apply", example_package("exitsnoop"), "--name", "exits",
                  "--wait", "--timeout", "60"))
    assert len(agent.tasks("exits")) == 1
    applied(fleet(store.urls, "rm", "exits", "--wait"))


def test_clear_errors(etcd, agents, example_package, tmp_path):
    store = etcd()
    one_error_line(fleet("http://127.0.0.1:1", "ls"), "cannot reach etcd",
                   "connection refused")
    one_error_line(fleet(store.urls, "--etcd-cacert", tmp_path / "none.pem", "ls"),
                   "--etcd-cacert: no file")
    one_error_line(fleet("ftp://127.0.0.1", "ls"), "is not an etcd endpoint")
    one_error_line(fleet(store.urls, "apply", example_package("exitsnoop"), "--name",
                         "Bad Name"), "--name 'Bad Name'")
    one_error_line(fleet(store.urls, "apply", example_package("exitsnoop"), "--",
                         "--no-such-flag"), "--no-such-flag")
    one_error_line(fleet(store.urls, "apply", example_package("exitsnoop"), "--",
                         "--filter", "nosuch==1"), "--filter names no field 'nosuch'")
    # a flag that is not UTF-8 (a byte 0xff in argv) cannot be stored as JSON
    one_error_line(fleet(store.urls, "apply", example_package("exitsnoop"), "--",
                         "--container", "\udcff"), "not valid Unicode")
    assert "exitsnoop" not in fleet(store.urls, "ls").stdout     # nothing was written
    one_error_line(fleet(store.urls, "rm", "nothing"), "no package named 'nothing'")
    broken = tmp_path / "broken.json"
    broken.write_text('{"bpf_object": "AAAA"}')
    one_error_line(fleet(store.urls, "apply", broken, "--name", "x"), "broken.json")
    # --wait with no node selected names the problem instead of waiting forever
    one_error_line(fleet(store.urls, "apply", example_package("exitsnoop"), "--name",
                         "nowhere", "--selector", "zone=none", "--wait", "--timeout", "2"),
                   "no node matches the selector zone=none")
    applied(fleet(store.urls, "rm", "nowhere"))


def test_etcd_users_and_client_certificates(etcd, tmp_path):
    """--etcd-user USER:PASSWORD against etcd with auth on; --etcd-cacert/--etcd-cert/
    --etcd-key against etcd that demands a client certificate."""
    from tests.tls import make_tls

    store = etcd()
    ctl = ["etcdctl", "--endpoints", store.urls]
    for words in (["user", "add", "root", "--new-user-password=root-pass"],
                  ["user", "grant-role", "root", "root"], ["auth", "enable"]):
        done = subprocess.run([*ctl, *words], capture_output=True, text=True, timeout=30,
                              check=False)
        assert done.returncode == 0, done.stderr
    one_error_line(fleet(store.urls, "ls"), "user name is empty")
    one_error_line(fleet(store.urls, "--etcd-user", "root:wrong", "ls"),
                   "etcd refused user 'root'", "authentication failed")
    applied(fleet(store.urls, "--etcd-user", "root:root-pass", "ls"))

    tls = make_tls(tmp_path, clients=("agent",))
    secure = etcd(tls=tls)
    ca, _, _, cert, key = tls
    one_error_line(fleet(secure.urls, "ls"), "cannot reach etcd")
    one_error_line(fleet(secure.urls, "--etcd-cacert", ca, "ls"), "cannot reach etcd")
    listed = fleet(secure.urls, "--etcd-cacert", ca, "--etcd-cert", cert, "--etcd-key", key,
                   "ls")
    applied(listed)
    assert listed.stdout.startswith("NAME")


def test_hand_written_keys_do_not_stop_the_fleet(etcd, agents, example_package):
    """Keys under the prefix that no fleet wrote (not UTF-8, not JSON, wrong kinds) are
    passed over by `ecli fleet` and by agents, which keep converging."""
    store = etcd()
    agent = agents(store.urls, "steady")
    wait_nodes(store.urls, "steady")
    prefix = "/eunomia/fleet/default"
    ctl = ["etcdctl", "--endpoints", store.urls, "put"]
    for key, value in ((f"{prefix}/desired/broken", "not json"),
                       (f"{prefix}/status/ghost/x", '{"node": "ghost", "version": "5"}'),
                       (f"{prefix}/nodes/odd", "[1, 2]")):
        assert subprocess.run([*ctl, key, value], capture_output=True, timeout=30,
                              check=False).returncode == 0
    # a key that is not UTF-8, put through the gateway
    import base64
    import json
    import urllib.request
    body = json.dumps({"key": base64.b64encode(f"{prefix}/desired/".encode() + b"\xff")
                       .decode(), "value": base64.b64encode(b"{}").decode()}).encode()
    urllib.request.urlopen(urllib.request.Request(f"{store.urls}/v3/kv/put", body),
                           timeout=10).read()
    for action in ("ls", "status", "nodes"):
        result = fleet(store.urls, action)
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    applied(fleet(store.urls, "apply", example_package("exitsnoop"), "--name", "exits",
                  "--wait", "--timeout", "60"))
    assert len(agent.tasks("exits")) == 1
    applied(fleet(store.urls, "rm", "exits", "--wait"))
    assert "Traceback" not in "\n".join(agent.lines)


def test_a_failed_start_is_tried_again_until_it_works(etcd, agents, fixture_package):
    """An XDP package for an interface the node does not have yet fails to start; the
    agent says so in the status and tries again (2 s, 4 s, ...): once the interface
    exists, it runs."""
    store = etcd()
    agent = agents(store.urls, "late-link")
    wait_nodes(store.urls, "late-link")
    link = "ecli-fl0"
    subprocess.run(["ip", "link", "del", link], capture_output=True, check=False)
    try:
        applied(fleet(store.urls, "apply", fixture_package("xdp"), "--name", "xdp", "--",
                      "--ifname", link))
        failing = wait_until(lambda: "failed" in (out := fleet(store.urls, "status",
                                                                 "xdp").stdout) and out,
                             30, 0.2, what="the failed start in the status")
        # the first attempt, or a later one when this poll was slow (a loaded machine)
        assert f"no network interface named '{link}'" in failing and "attempt " in failing
        subprocess.run(["ip", "link", "add", link, "type", "veth", "peer", "name",
                        f"{link}p"], check=True)
        wait_until(lambda: "running" in fleet(store.urls, "status", "xdp").stdout, 30, 0.5,
                   what="the retried start to run once the interface exists")
        assert len(agent.tasks("xdp")) == 1
        applied(fleet(store.urls, "rm", "xdp", "--wait"))
    finally:
        subprocess.run(["ip", "link", "del", link], capture_output=True, check=False)


def test_a_task_that_ends_on_its_own_is_started_again(etcd, agents, example_package):
    """The fleet says it should run: a task stopped behind the agent's back (here through
    its local API) is started again after the backoff, and the status says why."""
    store = etcd()
    before = loaded_program_ids([PROGRAM])
    agent = agents(store.urls, "self-heal")
    wait_nodes(store.urls, "self-heal")
    applied(fleet(store.urls, "apply", example_package("exitsnoop"), "--name", "exits",
                  "--wait"))
    first = agent.tasks("exits")[0]["id"]
    agent.client.call("POST", "/stop", {"id": first})
    # the agent says why (the status says it only until the retry, 2 s: a poll of it
    # may miss that window on a loaded machine)
    wait_until(lambda: any("the task ended" in line for line in agent.lines), 15, 0.2,
               what="the agent to say the task ended")
    again = wait_until(lambda: [t for t in agent.tasks("exits") if t["id"] != first], 30,
                       0.2, what="the task started again")
    assert len(again) == 1 and running_copies(before) == 1
    wait_until(lambda: "running" in fleet(store.urls, "status", "exits").stdout, 15, 0.2,
               what="the status back to running")
    applied(fleet(store.urls, "rm", "exits", "--wait"))
    wait_until(lambda: running_copies(before) == 0, 15, what="no program left")
