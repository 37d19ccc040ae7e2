"""--container through the other front ends: a server task started by `ecli client
start`, with the server asking podman on its default socket."""

from __future__ import annotations

import re
import subprocess
import uuid

from tests.cli.conftest import wait_until
from tests.server.conftest import ECLI, server  # noqa: F401 (fixture)

from .conftest import needs_podman

pytestmark = needs_podman


def test_client_start_selects_a_container(server, example_package, tmp_path,  # noqa: F811
                                          default_podman_socket, containers):
    running = server()
    keep, other = containers.name("eu-task"), containers.name("eu-other")
    path = f"/etc/eunomia-{uuid.uuid4().hex[:12]}"
    loop = f"while true; do cat {path}; sleep 0.05; done"

    def client(*args):
        return subprocess.run([*ECLI, "client", "-e", running.url, *map(str, args)],
                              capture_output=True, text=True, timeout=60, check=False)
    started = client("start", "--export-json", example_package("opensnoop"),
                     "--container", keep)
    assert started.returncode == 0, started.stderr
    task_id = re.search(r"started task (\d+)", started.stdout).group(1)
    containers.start(other, loop)
    containers.start(keep, loop)
    wait_until(lambda: client("log", task_id).stdout.count(f'"container":"{keep}"') >= 5,
               30, what="the selected container's opens in the task log")
    log = client("log", task_id).stdout
    assert other not in log
    refused = client("start", example_package("opensnoop"), "--runtime-socket",
                     "podman=/tmp/x.sock")
    assert refused.returncode == 1
    assert "--runtime-socket names a path on the server" in refused.stderr


def test_library_readable_values_name_the_container(example_package, default_podman_socket,
                                                    containers):
    from eunomia import Package
    name, path = containers.name("eu-lib"), f"/etc/eunomia-{uuid.uuid4().hex[:12]}"
    with Package.load(str(example_package("opensnoop"))).open() as prog:
        prog.attach()
        containers.start(name, f"while true; do cat {path}; sleep 0.05; done")

        def found():
            for event in prog.events(timeout=0.5):
                if event.fname == path:
                    return prog.readable(event)
            return None
        shown = wait_until(found, 30, what="the container's open through the library")
    assert (shown["container"], shown["pod"], shown["namespace"]) == (name, "", "")
    assert shown["mntns"].startswith("mnt:[")


def test_fleet_apply_checks_the_container_options_before_etcd(example_package,
                                                              fixture_package):
    """Checked where the command runs, before anything is written (no etcd is needed to
    be refused; the port below has none)."""
    def apply(package, *flags):
        return subprocess.run([*ECLI, "fleet", "--etcd", "http://127.0.0.1:9", "apply",
                               str(package), "--", *flags], capture_output=True, text=True,
                              timeout=60, check=False)
    socket = apply(example_package("opensnoop"), "--runtime-socket", "podman=/tmp/x.sock")
    assert socket.returncode == 1
    assert socket.stderr.strip().splitlines() == [
        line for line in socket.stderr.strip().splitlines()
        if "--runtime-socket names a path" in line]
    blind = apply(fixture_package("hello_world"), "--container", "web")
    assert blind.returncode == 1
    assert "no record of this package says which container" in blind.stderr
    accepted = apply(example_package("opensnoop"), "--container", "web")
    assert "cannot reach etcd" in accepted.stderr      # past every check, to etcd
