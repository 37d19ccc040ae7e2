"""ContainerMap: the node's containers by mount namespace and cgroup ID, kept live.

    containers = ContainerMap()
    containers.by_mntns(4026532250)      # Container(name='web', pod='web-0', ...) or None
    containers.by_cgroup(6521)           # (Container or None, "ssh.service" or "")

It scans /proc for each process's mount namespace and cgroup paths (the container ID and
pod UID are in the paths the runtimes make), and asks the runtimes' APIs (runtimes.py)
for names, images and labels of the IDs it finds. A lookup that misses reads the
processes started since the last look at once, so a container started a moment ago is
found from its first record; the run core does the same every second while a kernel
filter is on. A container stays known for GRACE seconds after its last process is gone,
for the records read after that (its exits).
"""

from __future__ import annotations

import os
import threading
import time

from ..logs import Logger
from ..valueclass import replace
from .kubelet import LOG_LINKS, kubelet_containers
from .model import Container, ContainerSelection
from .procfs import (
    CgroupOwner,
    Process,
    cgroup2_root,
    cgroup_paths,
    host_mntns,
    owner_of_path,
    process,
)
from .runtimes import runtimes

log = Logger("eunomia.containers")

MISS_MEMORY = 1.0           # a key no process has is looked for again after this
RUNTIME_ASK = 2.0           # seconds before the runtimes are asked again for an ID they
                            # did not name
LIMIT = 4096                # containers (and cgroups) the map holds at most
GRACE = 10.0                # seconds a container is remembered after its last process:
                            # its exit records are read after it is gone


class ContainerMap:
    """See the module's docstring. Thread-safe: a server's tasks share one."""

    def __init__(self, sockets: dict[str, str] | None = None, proc: str = "/proc",
                 limit: int = LIMIT, kubeconfig: str | None = None,
                 kubelet_logs: str = LOG_LINKS):
        """`sockets`: {runtime: path} over the default sockets ("" leaves one out);
        `kubeconfig`: where pod labels come from (default: the service account in a pod,
        else $KUBECONFIG; none found: no pod labels)."""
        self._proc = proc
        self._kubeconfig = kubeconfig
        self._kubelet_logs = kubelet_logs
        self._pod_labels = None         # kubernetes.PodLabels, made when a pod is seen
        self._limit = limit
        self._runtimes = runtimes(sockets)
        self._lock = threading.RLock()
        self._pids: dict[int, Process] = {}
        self._by_mntns: dict[int, str] = {}         # mount namespace -> container ID
        self._by_cgroup: dict[int, CgroupOwner] = {}
        self._owners: dict[str, CgroupOwner] = {}   # container ID -> its cgroup path's word
        self._details: dict[str, Container] = {}    # container ID -> what runtimes say
        self._missed: dict[int, float] = {}         # key -> when no process had it
        self._gone: dict[int, tuple[str, float]] = {}   # mount namespace -> (ID, when)
        self._asked: dict[str, float] = {}         # container ID -> when runtimes were
                                                    # asked (again after RUNTIME_ASK)
        self._cgroup_root = cgroup2_root()
        self._host_mntns = host_mntns(proc)
        self._warned_limit = False

    # -- lookups -----------------------------------------------------------------------

    def by_mntns(self, mntns: int) -> Container | None:
        """The container whose processes are in mount namespace `mntns`; None for the
        host's (and any namespace no container owns)."""
        with self._lock:
            if mntns not in self._by_mntns and mntns not in self._gone:
                self._look_again(("m", mntns))
            container_id = self._by_mntns.get(mntns)
            if container_id is None:
                container_id = self._gone.get(mntns, ("", 0.0))[0]
            return self._container(container_id) if container_id else None

    def by_cgroup(self, cgroup_id: int) -> tuple[Container | None, str]:
        """The container and the systemd unit of cgroup `cgroup_id` (a cgroup v2 ID, as
        bpf_get_current_cgroup_id gives it): (None, "ssh.service") for a host unit."""
        with self._lock:
            if cgroup_id not in self._by_cgroup and self._look_again(("c", cgroup_id)) \
                    and cgroup_id not in self._by_cgroup:
                self._walk_cgroups()        # a cgroup no process is in right now
            owner = self._by_cgroup.get(cgroup_id)
            if owner is None:
                return None, ""
            container = self._container(owner.container_id) if owner.container_id else None
            return container, owner.unit

    def containers(self) -> list[Container]:
        """Every container with a process now."""
        with self._lock:
            return [self._container(cid) for cid in sorted(set(self._by_mntns.values()))
                    if cid]

    def verdicts(self, selection: ContainerSelection) -> dict[int, bool]:
        """{mount namespace: whether `selection` picks it} for every namespace a process
        is in now (for a kernel filter)."""
        with self._lock:
            return {mntns: bool(cid) and selection.matches(self._container(cid))
                    for mntns, cid in self._by_mntns.items()}

    def sizes(self) -> dict[str, int]:
        """How many entries each part of the map holds (each is bounded by `limit`,
        but the processes of the node)."""
        with self._lock:
            return {"containers": len(self._details), "gone": len(self._gone),
                    "cgroups": len(self._by_cgroup), "missed": len(self._missed),
                    "asked": len(self._asked)}

    # -- keeping it live -----------------------------------------------------------------

    def refresh(self) -> None:
        """Reads the processes started since the last look, forgets those gone."""
        with self._lock:
            try:
                pids = {int(name) for name in os.listdir(self._proc) if name.isdigit()}
            except OSError:
                return
            for pid in list(self._pids):
                if pid not in pids:
                    del self._pids[pid]
            for pid in pids - self._pids.keys():
                found = process(pid, self._proc, self._host_mntns, self._cgroup_root)
                if found is not None:
                    self._pids[pid] = found
            self._index()

    def rescan(self) -> None:
        """Reads every process again (a pid may have been reused since)."""
        with self._lock:
            self._pids.clear()
            self.refresh()

    def _look_again(self, key) -> bool:
        """After a lookup of `key` missed: reads the processes started since the last
        look, unless `key` missed less than MISS_MEMORY ago (no process had it then:
        its records come from processes gone). Returns whether it read."""
        now = time.monotonic()
        missed = self._missed.get(key)
        if missed is not None and now - missed < MISS_MEMORY:
            return False
        if len(self._missed) > self._limit:
            self._missed.clear()
        self.refresh()
        self._missed[key] = now
        return True

    def _index(self) -> None:
        """The lookups, from the processes seen; runtimes asked for IDs new to them."""
        by_mntns: dict[int, str] = {}
        by_cgroup: dict[int, CgroupOwner] = {}
        owners: dict[str, CgroupOwner] = {}
        for found in self._pids.values():
            container_id = found.owner.container_id
            if container_id or found.mntns not in by_mntns:
                by_mntns[found.mntns] = container_id
            if container_id:
                owners.setdefault(container_id, found.owner)
            if found.cgroup_id is not None:
                by_cgroup.setdefault(found.cgroup_id, found.owner)
        ids = {cid for cid in by_mntns.values() if cid}
        if len(ids) > self._limit:
            ids = set(sorted(ids)[:self._limit])
            by_mntns = {m: c for m, c in by_mntns.items() if not c or c in ids}
            if not self._warned_limit:
                log.warning("more than %d containers: the rest are shown without names",
                            self._limit)
                self._warned_limit = True
        self._remember_gone(by_mntns)
        self._by_mntns = by_mntns
        self._owners = {cid: owner for cid, owner in owners.items() if cid in ids}
        self._by_cgroup = dict(list(by_cgroup.items())[:self._limit])
        kept = ids | {cid for cid, _ in self._gone.values()}
        self._details = {cid: c for cid, c in self._details.items() if cid in kept}
        now = time.monotonic()
        self._asked = {cid: when for cid, when in self._asked.items() if cid in ids}
        unnamed = [cid for cid in ids if cid not in self._details and
                   now - self._asked.get(cid, -RUNTIME_ASK) >= RUNTIME_ASK]
        if unnamed:
            self._ask_runtimes(unnamed)

    def _remember_gone(self, by_mntns: dict[int, str]) -> None:
        """Containers with no process left stay known for GRACE seconds (at most
        LIMIT of them)."""
        now = time.monotonic()
        for mntns, cid in self._by_mntns.items():
            if cid and mntns not in by_mntns:
                self._gone[mntns] = (cid, now)
        self._gone = {mntns: entry for mntns, entry in self._gone.items()
                      if now - entry[1] < GRACE and mntns not in by_mntns}
        if len(self._gone) > self._limit:
            newest = sorted(self._gone.items(), key=lambda item: -item[1][1])
            self._gone = dict(newest[:self._limit])

    def _walk_cgroups(self) -> None:
        if self._cgroup_root is None:
            return
        for cgroup_id, path in cgroup_paths(self._cgroup_root, self._limit).items():
            self._by_cgroup.setdefault(cgroup_id, owner_of_path(path))

    def _ask_runtimes(self, unnamed: list[str]) -> None:
        """Names for the IDs the runtimes' APIs know, then the kubelet's log links for
        the rest (containerd's containers, and any runtime whose socket is away)."""
        now = time.monotonic()
        self._asked.update((cid, now) for cid in unnamed)
        wanted = set(unnamed)
        for runtime in self._runtimes:
            for container in runtime.containers(unnamed):
                if container.id in wanted:
                    self._details[container.id] = self._completed(container)
        rest = [cid for cid in unnamed if cid not in self._details]
        if rest:
            for container in kubelet_containers(rest, self._kubelet_logs):
                self._details[container.id] = self._completed(container)

    def _completed(self, container: Container) -> Container:
        """A runtime's (or the kubelet's) word on a container, with what its cgroup path
        says where they say nothing (runtime, pod UID), and its pod's labels."""
        path = self._container(container.id)
        container = replace(container,
                                        runtime=container.runtime or path.runtime,
                                        pod_uid=container.pod_uid or path.pod_uid)
        return self._with_pod_labels(container)

    def _with_pod_labels(self, container: Container) -> Container:
        if not container.pod or not container.namespace:
            return container
        if self._pod_labels is None:
            from .kubernetes import KubeConfigError, PodLabels, api_server
            try:
                server = api_server(self._kubeconfig)
            except (KubeConfigError, OSError) as exc:
                log.warning("%s; pod labels are not used", exc)
                server = None
            self._pod_labels = PodLabels(server) if server is not None else False
        if not self._pod_labels:
            return container
        labels = self._pod_labels.labels(container.namespace, container.pod)
        return replace(container, pod_labels=labels) if labels else container

    def _container(self, container_id: str) -> Container:
        known = self._details.get(container_id)
        if known is not None:
            return known
        owner = self._owners.get(container_id, CgroupOwner())
        return Container(id=container_id, runtime=owner.runtime, name=container_id[:12],
                         pod_uid=owner.pod_uid)


_SHARED: dict[tuple, ContainerMap] = {}
_SHARED_LOCK = threading.Lock()


def shared_map(sockets: dict[str, str] | None = None,
               kubeconfig: str | None = None) -> ContainerMap:
    """One ContainerMap per set of runtime sockets (and kubeconfig) in this process: a
    server's tasks and a run's printer and kernel filter share its scans."""
    key = (tuple(sorted((sockets or {}).items())), kubeconfig)
    with _SHARED_LOCK:
        found = _SHARED.get(key)
        if found is None:
            found = _SHARED[key] = ContainerMap(sockets, kubeconfig=kubeconfig)
        return found
