"""Exporter metrics labelled by container, with the program's args selecting one: a real
eunomia-exporter, real containers, and podman's API on its default socket (as
`systemctl start podman.socket` gives it), so the decoders' defaults are what is tested."""

from __future__ import annotations

import uuid

from tests.exporter.conftest import exporter, packages, write_config  # noqa: F401 (fixtures)
from tests.kernel.conftest import wait_until

from .conftest import needs_podman

pytestmark = needs_podman
def test_metrics_are_labelled_by_container(exporter, packages, tmp_path,  # noqa: F811
                                           default_podman_socket, containers):
    keep, other = containers.name("eu-exp"), containers.name("eu-other")
    path = f"/etc/eunomia-{uuid.uuid4().hex[:12]}"
    loop = f"while true; do cat {path}; sleep 0.05; done"
    containers.start(keep, loop)
    program = {"name": "opens", "compiled_ebpf_filename": str(packages["opensnoop"]),
               "args": ["--container", keep],
               "metrics": {"counters": [{"name": "test_container_opens", "labels": [
                   {"name": "container", "from": "mntns", "decoders": ["container"]},
                   {"name": "pod", "from": "mntns", "decoders": ["pod"]},
                   {"name": "filename", "from": "fname"}]}]}}
    running = exporter(write_config(tmp_path / "config.yaml", [program]))
    containers.start(other, loop)      # after the start: filtered in user space
    wait_until(lambda: (running.value("test_container_opens_total", container=keep,
                                      filename=path) or 0) >= 5,
               30, what="opens counted under the container's name")
    from tests.exporter.conftest import parse_samples
    labelled = {labels.get("container") for name, labels, _ in
                parse_samples(running.metrics()) if name == "test_container_opens_total"}
    assert labelled == {keep}
