"""How each program is attached: by its section name, or with defaults for the hooks a
section name alone cannot place (uprobe without a target, XDP, tc, perf_event).

A program's doc annotations (`/// @ifname eth0` or eunomia-bpf's `/// @ifindex 1`,
`/// @binary /bin/bash`, `/// @function readline`, `/// @pid 42`, `/// @direction egress`,
`/// @sample_freq 99`) override the defaults, and the command line overrides both. Of
eunomia-bpf's own prog keys, `ifindex` and `tchook` ({ifindex, attach_point}) are read;
`flags`, `xdpopts` and `tcopts` (handle, priority) are accepted and not used: libbpf
picks the XDP mode, and tc filters take the kernel's handle and priority.
"""

from __future__ import annotations

from typing import Any

from .errors import AttachError
from .valueclass import valueclass

DEFAULT_IFNAME = "lo"
DEFAULT_SAMPLE_FREQ = 49


@valueclass
class AttachOptions:
    """Command-line overrides; None keeps the program's annotation or the default."""

    ifname: str | None = None
    pid: int | None = None
    binary: str | None = None
    sample_freq: int | None = None


def hook_kind(section: str) -> str:
    """The hook family of a section name: "xdp", "tc", "uprobe", "perf_event", ..."""
    head = section.split("/", 1)[0].split(".", 1)[0]
    if head in ("classifier", "tc", "tcx"):
        return "tc"
    if section in ("uprobe", "uretprobe", "uprobe.s", "uretprobe.s"):
        return "uprobe_untargeted"
    return head


def _interface(annotations: dict[str, Any], options: AttachOptions, program: str) -> int:
    """The ifindex for XDP/tc: --ifname, else `@ifname`, else eunomia-bpf's `@ifindex`."""
    if options.ifname is None and "ifname" not in annotations \
            and "ifindex" in annotations:
        return int(annotations["ifindex"])
    return _ifindex(str(options.ifname or annotations.get("ifname", DEFAULT_IFNAME)), program)


def _ifindex(ifname: str, program: str) -> int:
    import socket  # loaded for XDP and tc only: every start would pay for it
    try:
        return socket.if_nametoindex(ifname)
    except OSError:
        raise AttachError(f"cannot attach program '{program}': no network interface "
                          f"named '{ifname}'", program=program) from None


def attach_program(program, annotations: dict[str, Any], options: AttachOptions):
    """Attaches `program` and returns its Link."""
    def pick(key, cli_value, default=None):
        if cli_value is not None:
            return cli_value
        return annotations.get(key, default)

    section = program.section_name
    kind = hook_kind(section)
    if kind == "xdp":
        return program.attach_xdp(_interface(annotations, options, program.name))
    if kind == "tc":
        hook = annotations.get("tchook")     # eunomia-bpf's {ifindex, attach_point}
        if isinstance(hook, dict):
            annotations = {**annotations, **({"ifindex": hook["ifindex"]} if "ifindex" in hook
                                             else {})}
            if hook.get("attach_point") == "BPF_TC_EGRESS":
                annotations.setdefault("direction", "egress")
        direction = str(annotations.get("direction", "egress" if "egress" in section
                                        else "ingress"))
        return program.attach_tc(_interface(annotations, options, program.name),
                                 ingress=direction != "egress")
    if kind == "perf_event":
        freq = int(pick("sample_freq", options.sample_freq, DEFAULT_SAMPLE_FREQ))
        return program.attach_perf_event(sample_freq=freq)
    if kind == "uprobe_untargeted":
        binary = pick("binary", options.binary)
        function = annotations.get("function") or annotations.get("symbol")
        if not binary or not function:
            raise AttachError(
                f"cannot attach uprobe '{program.name}': SEC(\"{section}\") names no target; "
                "write SEC(\"uprobe//path/to/binary:function\") or annotate the program with "
                "'/// @binary PATH' and '/// @function NAME'", program=program.name)
        return program.attach_uprobe(str(binary), symbol=str(function),
                                     offset=int(annotations.get("offset", 0)),
                                     pid=int(pick("pid", options.pid, -1)),
                                     retprobe=section.startswith("uretprobe"))
    if kind in ("uprobe", "uretprobe") and options.pid is not None:
        # "uprobe//abs/path:func" or "uprobe/name-on-PATH:func"
        target = section.split("/", 1)[1]
        binary, _, function = target.rpartition(":")
        return program.attach_uprobe(binary, symbol=function, pid=options.pid,
                                     retprobe=kind == "uretprobe")
    return program.attach()
