"""Events name the container, pod and namespace they came from, and --container /
--k8s-* select them: real containers (podman + runc), real BPF programs, real opens."""

from __future__ import annotations

import os
import uuid

from tests.cli.conftest import Ecli, needs_clang, wait_until

from .conftest import needs_podman

pytestmark = [needs_podman, needs_clang]


def opensnoop(example_package, socket: str, *args: str) -> Ecli:
    run = Ecli([str(example_package("opensnoop")), "--json", "--runtime-socket",
                f"podman={socket}", *args])
    run.wait_attached()
    return run


def marker() -> str:
    return f"/etc/eunomia-{uuid.uuid4().hex[:12]}"


def test_an_open_in_a_container_started_after_ecli_names_it(example_package, podman_socket,
                                                           containers):
    run = opensnoop(example_package, podman_socket)
    try:
        path, name = marker(), containers.name("eu-open")
        # its first open, a moment after it starts: found by the lookup that missed
        containers.start(name, f"cat {path}; sleep 30")
        event = run.wait_event(lambda e: e.get("fname") == path, what="the container's open")
        assert event["comm"] == "cat"
        assert event["container"] == name
        assert (event["pod"], event["namespace"]) == ("", "")
        assert event["ret"] == "ENOENT"
        host = run.wait_event(lambda e: e.get("comm") == "podman", what="a host open")
        assert host["container"] == ""      # host processes: empty values
    finally:
        assert run.stop() == 0


def test_kubelet_labels_give_pod_and_namespace(example_package, podman_socket, containers):
    run = opensnoop(example_package, podman_socket)
    try:
        path, name = marker(), containers.name("eu-k8s")
        containers.start(name, f"cat {path}; sleep 30", labels={
            "io.kubernetes.pod.name": "web-0", "io.kubernetes.pod.namespace": "shop",
            "io.kubernetes.pod.uid": "0b0e6c2e-8a43-4c7e-9d2b-0a4b3e0f1c2d",
            "io.kubernetes.container.name": "app"})
        event = run.wait_event(lambda e: e.get("fname") == path, what="the pod's open")
        assert (event["container"], event["pod"], event["namespace"]) == ("app", "web-0",
                                                                         "shop")
    finally:
        run.stop()


def test_the_table_has_container_columns(example_package, podman_socket, containers):
    name, path = containers.name("eu-table"), marker()
    containers.start(name, f"while true; do cat {path}; sleep 0.1; done")
    run = Ecli([str(example_package("opensnoop")), "--runtime-socket",
                f"podman={podman_socket}", "--container", name])
    run.wait_attached()
    try:
        line = run.wait_line(lambda ln: path in ln, what="a row of the container")
        header = run.lines[0].split()
        assert header[-3:] == ["CONTAINER", "POD", "NAMESPACE"]
        assert name in line.split()
    finally:
        run.stop()


def test_container_selects_that_container_only(example_package, podman_socket, containers):
    keep, other = containers.name("eu-keep"), containers.name("eu-other")
    keep_path, other_path = marker(), marker()
    containers.start(other, f"while true; do cat {other_path}; sleep 0.05; done")
    run = opensnoop(example_package, podman_socket, "--container", "eu-keep-*")
    try:
        # one started before ecli (filtered in the kernel), one after (the kernel lets a
        # namespace it was not told of pass; ecli drops it by its mntns field)
        late = containers.name("eu-other")
        containers.start(late, f"while true; do cat {other_path}; sleep 0.05; done")
        containers.start(keep, f"while true; do cat {keep_path}; sleep 0.05; done")
        wait_until(lambda: sum(e.get("fname") == keep_path for e in run.json_events()) >= 10,
                   what="ten opens of the selected container")
    finally:
        assert run.stop() == 0
    events = run.json_events()
    assert {e["container"] for e in events} == {keep}
    assert not any(e.get("fname") == other_path for e in events)


def test_container_on_a_package_that_cannot_tell_is_one_clear_line(fixture_package):
    run = Ecli([str(fixture_package("hello_world")), "--container", "web"])
    assert run.proc.wait(60) != 0
    run.join()
    assert "--container web: no record of this package says which container" in \
        "\n".join(run.errors)
    assert not any("Traceback" in line for line in run.errors)


def test_the_kernel_filter_drops_other_containers_before_the_ring(example_package,
                                                                   podman_socket, containers):
    """Counted on the records the run core hands over, before any user-space filter."""
    from eunomia import Package
    from eunomia.session import Session, Sink, parse_run_args

    keep, other = containers.name("eu-keep"), containers.name("eu-other")
    keep_path, other_path = marker(), marker()
    containers.start(other, f"while true; do cat {other_path}; sleep 0.05; done")
    containers.start(keep, f"while true; do cat {keep_path}; sleep 0.05; done")
    namespaces = {containers.mntns(keep): "keep", containers.mntns(other): "other"}
    package = Package.load(str(example_package("opensnoop")))

    def received(argv: list[str]) -> dict[str, int]:
        counts = {"keep": 0, "other": 0}

        class Count(Sink):
            def records(self, source, raws, now):
                for raw in raws:
                    mntns = source.codec.decode(raw).mntns
                    if mntns in namespaces:
                        counts[namespaces[mntns]] += 1

        settings = parse_run_args(package, ["--runtime-socket", f"podman={podman_socket}",
                                            *argv])
        session = Session(package, settings, Count()).start().run_in_thread()
        try:
            wait_until(lambda: counts["keep"] >= 10, what="ten records of the kept one")
        finally:
            session.stop()
        return counts

    assert received([])["other"] > 0            # without a selection both arrive
    assert received(["--container", keep])["other"] == 0


def test_a_cgroup_named_like_a_service_gives_its_unit(fixture_package, tmp_path):
    import subprocess

    from eunomia.containers.procfs import cgroup2_root
    root = cgroup2_root()
    assert root is not None, "no cgroup v2 hierarchy is mounted"
    unit = f"eunomia-test-{uuid.uuid4().hex[:8]}.service"
    cgroup = os.path.join(root, "system.slice", unit)
    os.makedirs(cgroup)
    script = f"echo $$ > {cgroup}/cgroup.procs; read line; exec cat /nonexistent-{unit}"
    child = subprocess.Popen(["sh", "-c", script], stdin=subprocess.PIPE, text=True)
    run = Ecli([str(fixture_package("typed")), "--json", "--targ_tgid", str(child.pid)])
    try:
        run.wait_attached()
        child.stdin.write("go\n")
        child.stdin.flush()
        event = run.wait_event(lambda e: e.get("kind") == "open", what="the child's open")
        assert event["unit"] == unit
        assert event["cgroup"] == f"/system.slice/{unit}"
        assert event["container"] == ""
    finally:
        run.stop()
        child.kill()
        child.wait()
        os.rmdir(cgroup)
