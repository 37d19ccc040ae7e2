"""What /proc says of the node's processes: each one's mount namespace and cgroup paths,
and from the paths, its container ID, runtime and pod UID (what the runtimes put there),
or its systemd unit."""

from __future__ import annotations

import os
import re

from ..valueclass import valueclass

# a container's cgroup: libpod-ID.scope, docker-ID.scope, /docker/ID, cri-containerd-ID,
# crio-ID, or a bare ID under kubepods
_CONTAINER_DIR = re.compile(
    r"^(?:(libpod|docker|cri-containerd|crio|containerd)-)?([0-9a-f]{64})(?:\.scope)?$")
_RUNTIME_OF_PREFIX = {"libpod": "podman", "docker": "docker", "cri-containerd": "containerd",
                      "containerd": "containerd", "crio": "crio"}
_POD_DIR = re.compile(r"pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}"
                      r"[-_][0-9a-f]{12})(?:\.slice)?$")
_UNIT_DIR = re.compile(r"^[^/]+\.(?:service|scope)$")
MAX_CGROUP_FILE = 1 << 16


@valueclass(frozen=True)
class CgroupOwner:
    """What a cgroup path says: a container (`container_id`, `runtime`, `pod_uid`) or a
    systemd unit."""

    container_id: str = ""
    runtime: str = ""
    pod_uid: str = ""
    unit: str = ""


def owner_of_path(path: str) -> CgroupOwner:
    """The container or unit a cgroup path names ("" fields where it names none)."""
    parts = [p for p in path.split("/") if p]
    pod_uid = ""
    for index, part in enumerate(parts):
        pod = _POD_DIR.search(part)
        if pod:
            pod_uid = pod.group(1).replace("_", "-")
        match = _CONTAINER_DIR.match(part)
        if match:
            prefix = match.group(1)
            parent = parts[index - 1] if index else ""
            runtime = _RUNTIME_OF_PREFIX.get(prefix or "", "")
            if not runtime:
                runtime = ("docker" if parent == "docker" else
                           "podman" if parent.startswith("libpod") else "")
            return CgroupOwner(match.group(2), runtime, pod_uid)
    units = [p for p in parts if _UNIT_DIR.match(p)]
    return CgroupOwner(unit=units[-1] if units else "")


@valueclass(frozen=True)
class Process:
    pid: int
    mntns: int                  # the inode of /proc/PID/ns/mnt
    owner: CgroupOwner          # from the first path that names a container (or unit)
    cgroup_id: int | None       # its cgroup v2 directory's inode (None: not read)


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as file:
            return file.read(MAX_CGROUP_FILE).decode("utf-8", "replace")
    except OSError:
        return None


def process(pid: int, proc: str = "/proc", skip_mntns: int | None = None,
            cgroup_root: str | None = None) -> Process | None:
    """What /proc says of `pid`; None when it is gone. A process in mount namespace
    `skip_mntns` (the host's: no container's) is not read further: reading every host
    process's cgroup file would fill a file tracer's output with ecli's own opens. Its
    cgroup ID is its v2 directory's inode under `cgroup_root` (cgroup2_root())."""
    try:
        mntns = os.stat(f"{proc}/{pid}/ns/mnt").st_ino
    except OSError:
        return None
    if mntns == skip_mntns:
        return Process(pid, mntns, CgroupOwner(), None)
    text = _read(f"{proc}/{pid}/cgroup")
    if text is None:
        return None
    owner, unified = CgroupOwner(), None
    for line in text.splitlines():
        hierarchy, _, rest = line.partition(":")
        _, _, path = rest.partition(":")
        if hierarchy == "0":
            unified = path
        if not owner.container_id:
            found = owner_of_path(path)
            if found.container_id or (found.unit and not owner.unit):
                owner = found
    return Process(pid, mntns, owner, _directory_inode(cgroup_root, unified))


def _directory_inode(root: str | None, path: str | None) -> int | None:
    if root is None or path is None:
        return None
    try:
        return os.stat(root + path.rstrip("/")).st_ino
    except OSError:
        return None


def host_mntns(proc: str = "/proc") -> int | None:
    """The mount namespace of pid 1 (or, in a pid namespace of our own, of ours)."""
    for pid in ("1", "self"):
        try:
            return os.stat(f"{proc}/{pid}/ns/mnt").st_ino
        except OSError:
            continue
    return None


def cgroup2_root() -> str | None:
    """Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or .../unified on hybrid
    systems), from /proc/self/mounts."""
    try:
        with open("/proc/self/mounts") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) > 2 and fields[2] == "cgroup2":
                    return fields[1]
    except OSError:
        pass
    return None


def cgroup_paths(root: str, limit: int) -> dict[int, str]:
    """{cgroup id (its directory's inode): path} of the v2 hierarchy, at most `limit`."""
    found: dict[int, str] = {}
    for directory, _, _ in os.walk(root):
        try:
            found[os.stat(directory).st_ino] = directory[len(root):] or "/"
        except OSError:
            continue
        if len(found) >= limit:
            break
    return found
