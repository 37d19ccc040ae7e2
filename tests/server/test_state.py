"""`ecli server --state-dir`: tasks survive a restart, even a SIGKILL. The same tasks run
again with their ids, paused ones stay paused, nothing runs twice (bpftool), a stopped
one stays stopped, and one that cannot come back is listed as failed, not dropped."""

from __future__ import annotations

import signal

from tests.kernel.conftest import held_program_ids, loaded_program_ids, wait_until

from .conftest import RunningServer, pytestmark, start_body  # noqa: F401

EXITS = "handle_exit"       # exitsnoop's program


def test_tasks_come_back_after_a_kill(exitsnoop_package, tmp_path):
    state = tmp_path / "state"
    first = RunningServer("--state-dir", state)
    try:
        client = first.client()
        ids = [client.call("POST", "/task", start_body(exitsnoop_package, "--json",
                                                       program_name=f"exits{n}"))["id"]
               for n in range(4)]
        client.call("POST", "/pause", {"id": ids[1]})
        client.call("POST", "/stop", {"id": ids[3]})     # asked to stop: not kept
        # paused: detached, still loaded; stopped: gone
        held = held_program_ids(first.proc.pid, [EXITS])
        assert len(held) == 3
    finally:
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(timeout=30)
    wait_until(lambda: not loaded_program_ids([EXITS]) & held, 15,
               what="the killed server's programs to go")
    (state / "task-99.json").write_text("{not json")       # damaged: listed, not dropped
    second = RunningServer("--state-dir", state)
    try:
        client = second.client()
        tasks = {t["id"]: t for t in client.call("GET", "/task")["tasks"]}
        assert {i: tasks[i]["status"] for i in ids[:3]} == {
            ids[0]: "running", ids[1]: "paused", ids[2]: "running"}
        assert [tasks[i]["name"] for i in ids[:3]] == ["exits0", "exits1", "exits2"]
        assert ids[3] not in tasks
        assert tasks[99]["status"] == "failed"
        assert "cannot read its saved state" in client.call(
            "POST", "/log", {"id": 99})["log"][0]["text"]
        assert len(held_program_ids(second.proc.pid, [EXITS])) == 3     # one copy each
        # a new task takes a fresh id, after the restored ones
        new = client.call("POST", "/task", start_body(exitsnoop_package))["id"]
        assert new > 99
        client.call("POST", "/resume", {"id": ids[1]})
        client.call("POST", "/stop", {"id": new})
        # a client stops the damaged one: it goes, with its file
        client.call("POST", "/stop", {"id": 99})
        assert 99 not in {t["id"] for t in client.call("GET", "/task")["tasks"]}
        assert not (state / "task-99.json").exists()
    finally:
        second.stop()           # a shutdown of the server keeps its tasks for next time
    third = RunningServer("--state-dir", state)
    try:
        tasks = {t["id"]: t["status"] for t in third.client().call("GET", "/task")["tasks"]}
        assert [tasks[i] for i in ids[:3]] == ["running", "running", "running"]
        assert new not in tasks
        held = held_program_ids(third.proc.pid, [EXITS])
    finally:
        third.stop()
    wait_until(lambda: not loaded_program_ids([EXITS]) & held, 15,
               what="no program left after the last stop")
