"""What the container map knows of one workload: a container (with its pod, when the
kubelet made it), or the systemd unit of a host process."""

from __future__ import annotations

import fnmatch

from ..valueclass import field, valueclass

# the labels the kubelet puts on every container it makes through CRI
POD_NAME = "io.kubernetes.pod.name"
POD_NAMESPACE = "io.kubernetes.pod.namespace"
POD_UID = "io.kubernetes.pod.uid"
CONTAINER_NAME = "io.kubernetes.container.name"


@valueclass(frozen=True)
class Container:
    """One container: `id` is the runtime's full ID, `name` its name (the short ID when
    no runtime said), `runtime` one of podman, docker, containerd, crio (or "" when only
    the cgroup path named it)."""

    id: str
    runtime: str = ""
    name: str = ""
    image: str = ""
    pod: str = ""
    namespace: str = ""
    pod_uid: str = ""
    labels: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    pod_labels: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @classmethod
    def from_labels(cls, container_id: str, runtime: str, name: str, image: str,
                    labels: dict[str, str]) -> Container:
        """A container whose pod comes from the kubelet's labels, if it has them."""
        return cls(id=container_id, runtime=runtime,
                   name=labels.get(CONTAINER_NAME) or name or container_id[:12],
                   image=image, pod=labels.get(POD_NAME, ""),
                   namespace=labels.get(POD_NAMESPACE, ""),
                   pod_uid=labels.get(POD_UID, ""), labels=dict(labels))

    def fields(self) -> dict[str, str]:
        """The enrichment of a record: container, pod and namespace."""
        return {"container": self.name, "pod": self.pod, "namespace": self.namespace}


NO_CONTAINER = {"container": "", "pod": "", "namespace": ""}


@valueclass(frozen=True)
class ContainerSelection:
    """`--container NAME` (globs, any of them), `--k8s-namespace`, `--k8s-pod` (globs)
    and `--k8s-selector k=v,...` (every pair). Empty: every process, host included."""

    names: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    pods: tuple[str, ...] = ()
    selector: tuple[tuple[str, str], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.names or self.namespaces or self.pods or self.selector)

    def matches(self, container: Container | None) -> bool:
        """Whether `container` is selected (None, a host process: only when nothing is
        asked for). Names match a container's name or its ID's first characters."""
        if not self:
            return True
        if container is None:
            return False
        if self.names and not any(
                fnmatch.fnmatchcase(container.name, pattern) or
                (len(pattern) >= 4 and container.id.startswith(pattern))
                for pattern in self.names):
            return False
        if self.namespaces and not any(fnmatch.fnmatchcase(container.namespace, pattern)
                                       for pattern in self.namespaces):
            return False
        if self.pods and not any(fnmatch.fnmatchcase(container.pod, pattern)
                                 for pattern in self.pods):
            return False
        labels = {**container.labels, **container.pod_labels}
        return all(labels.get(key) == value for key, value in self.selector)

    def describe(self) -> str:
        parts = [*(f"--container {n}" for n in self.names),
                 *(f"--k8s-namespace {n}" for n in self.namespaces),
                 *(f"--k8s-pod {p}" for p in self.pods)]
        if self.selector:
            parts.append("--k8s-selector " + ",".join(f"{k}={v}" for k, v in self.selector))
        return " ".join(parts)
