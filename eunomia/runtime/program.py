"""BpfProgram: one program of an object; the attach strategies live in runtime/attach/."""

from __future__ import annotations

import struct

from .. import _libbpf
from .attach.generic import by_section
from .attach.probes import kprobe, tracepoint
from .link import Link

# uprobe (subprocess), tc and xdp (socket) and perf_event load with their first attach:
# most packages never need them, and every start would pay for their imports.


class BpfProgram:
    """One program of a BpfObject; every attach_* returns a Link the program also keeps,
    so that closing the object detaches whatever is still attached."""

    def __init__(self, handle: int):
        bpf = _libbpf.lib.bpf
        self.handle = handle            # struct bpf_program *, owned by the object
        self.name = _libbpf.py_name(bpf.bpf_program__name(handle), "program name")
        self.section_name = _libbpf.py_name(bpf.bpf_program__section_name(handle),
                                            f"section name of program '{self.name}'")
        self.links: list[Link] = []

    @property
    def type(self) -> int:
        """BPF_PROG_TYPE_* (libbpf guesses it from the section name at open)."""
        return _libbpf.lib.bpf.bpf_program__type(self.handle)

    @property
    def autoload(self) -> bool:
        return bool(_libbpf.lib.bpf.bpf_program__autoload(self.handle))

    @autoload.setter
    def autoload(self, enabled: bool) -> None:
        _libbpf.check_int(_libbpf.lib.bpf.bpf_program__set_autoload(self.handle, enabled),
                          f"set autoload of program '{self.name}'")

    @property
    def fd(self) -> int:
        """The program's fd once loaded (negative before)."""
        return _libbpf.lib.bpf.bpf_program__fd(self.handle)

    def info(self) -> dict:
        """The kernel's view of the loaded program: type, id, name, verified_insns,
        run_cnt and run_time_ns (these two count only while BPF stats are enabled)."""
        raw = _libbpf.prog_info(self.fd)
        kind, prog_id = struct.unpack_from("<II", raw, 0)
        name = raw[64:80].split(b"\0", 1)[0].decode()
        run_time_ns, run_cnt = struct.unpack_from("<QQ", raw, 192)
        verified = struct.unpack_from("<I", raw, 216)[0] if len(raw) >= 220 else 0
        return {"type": kind, "id": prog_id, "name": name, "run_time_ns": run_time_ns,
                "run_cnt": run_cnt, "verified_insns": verified}

    def attach(self) -> Link:
        """Attaches by section name (tp/, raw_tp/, tp_btf/, uprobe/BIN:FUNC, kprobe/...)."""
        return self._keep(by_section(self))

    def attach_uprobe(self, binary: str, symbol: str | None = None, offset: int = 0,
                      pid: int = -1, retprobe: bool = False) -> Link:
        """A u(ret)probe on `symbol` (+`offset`) in `binary`: a path, a program on $PATH
        or a bare library name such as "libc.so.6"; pid -1 means every process."""
        from .attach.uprobe import uprobe
        return self._keep(uprobe(self, binary, symbol, offset, pid, retprobe))

    def attach_tracepoint(self, category: str, name: str) -> Link:
        """The tracepoint `category:name`, chosen at run time (for a bare SEC("tp"))."""
        return self._keep(tracepoint(self, category, name))

    def attach_kprobe(self, function: str, retprobe: bool = False) -> Link:
        """A k(ret)probe on kernel function `function`, chosen at run time;
        NotSupportedError on kernels without kprobes."""
        return self._keep(kprobe(self, function, retprobe))

    def attach_xdp(self, ifindex: int | str = "lo") -> Link:
        """XDP on an interface, by index or name (default the loopback)."""
        from .attach.xdp import xdp
        return self._keep(xdp(self, ifindex))

    def attach_tc(self, ifindex: int | str = "lo", ingress: bool = True,
                  clsact: bool = False) -> Link:
        """A tc program on an interface: a tcx link where the kernel has them (6.6+),
        else (or with `clsact`) a clsact filter, whose qdisc is created if missing and
        destroyed again on detach when we created it."""
        from .attach.tc import tc
        return self._keep(tc(self, ifindex, ingress, clsact))

    def attach_cgroup(self, path: str) -> Link:
        """A cgroup program on the cgroup v2 directory `path`."""
        from .attach.cgroup import cgroup
        return self._keep(cgroup(self, path))

    def attach_perf_event(self, sample_freq: int = 49, cpus: list[int] | None = None) -> Link:
        """A software CPU-clock event per online CPU at `sample_freq` Hz, each attached;
        the one Link returned owns them all."""
        from .attach.perf_event import perf_event
        return self._keep(perf_event(self, sample_freq, cpus))

    def detach_all(self) -> None:
        """Detaches every link made through this program (each only once)."""
        links, self.links = self.links, []
        for link in links:
            link.detach()

    def _keep(self, link: Link) -> Link:
        self.links = [kept for kept in self.links if kept.attached]
        self.links.append(link)
        return link

    def __repr__(self) -> str:
        return f"<BpfProgram {self.name} {self.section_name}>"
