"""deploy/kubernetes cannot run here (no cluster): its manifests must parse, carry what a
BPF agent needs, and pass flags that ecli and the exporter really take."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from eunomia.cli import exporter
from eunomia.cli.ecli import _top_parser

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"


def documents() -> dict[tuple[str, str], dict]:
    out = {}
    for path in sorted(DEPLOY.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            assert doc["apiVersion"] and doc["metadata"]["name"], path
            out[(doc["kind"], doc["metadata"]["name"])] = doc
    return out


def expanded(words: list[str]) -> list[str]:
    """$(VAR) as Kubernetes fills it in, with a sample value."""
    return [re.sub(r"\$\((\w+)\)", "sample", word) for word in words]


def test_the_agent_daemonset_has_what_bpf_needs_and_real_flags():
    agent = documents()[("DaemonSet", "eunomia-agent")]
    pod = agent["spec"]["template"]["spec"]
    assert pod["hostPID"] is True
    container = pod["containers"][0]
    assert container["securityContext"]["privileged"] is True
    mounted = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/sys/fs/bpf", "/sys/kernel/btf", "/sys/kernel/tracing"} <= mounted
    host_paths = {v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v}
    assert {"/sys/fs/bpf", "/sys/kernel/btf", "/sys/kernel/tracing"} <= host_paths
    args = _top_parser().parse_args(["server", *expanded(container["args"])])
    assert args.fleet == "sample" and args.node == "sample" and args.addr == "127.0.0.1"
    assert agent["spec"]["selector"]["matchLabels"] == \
        agent["spec"]["template"]["metadata"]["labels"]


def test_the_exporter_has_a_service_on_its_port_and_a_config_that_parses():
    docs = documents()
    daemonset = docs[("DaemonSet", "eunomia-exporter")]
    container = daemonset["spec"]["template"]["spec"]["containers"][0]
    args = exporter.parser().parse_args(container["command"][1:])
    port = int(args.listen.rsplit(":", 1)[1])
    assert container["ports"][0]["containerPort"] == port
    service = docs[("Service", "eunomia-exporter")]
    assert service["spec"]["selector"] == daemonset["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["ports"][0]["port"] == port
    config = yaml.safe_load(docs[("ConfigMap", "eunomia-exporter")]["data"]["config.yaml"])
    assert config["programs"][0]["compiled_ebpf_filename"]


def test_the_container_file_builds_the_agent():
    text = (DEPLOY / "Containerfile").read_text()
    assert re.search(r"^FROM debian:12", text, re.MULTILINE)
    assert "libbpf1" in text and "bpftool" in text
    assert 'ENTRYPOINT ["ecli", "server"]' in text
