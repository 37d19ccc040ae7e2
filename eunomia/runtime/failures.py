"""Turns attach and load failures into errors a user can act on, in one line."""

from __future__ import annotations

import errno
import os
import shutil

from ..defaults import ENOTSUPP, KPROBE_PMU
from ..errors import AttachError, LoadError, NotSupportedError, PermissionDeniedError, VerifierError

TRACEFS = "/sys/kernel/tracing/events"
_KPROBE = ("kprobe", "kretprobe", "ksyscall", "kretsyscall", "kprobe.multi",
           "kretprobe.multi")
_TRAMPOLINE = ("fentry", "fexit", "fmod_ret", "lsm", "fentry.s", "fexit.s", "fmod_ret.s",
               "lsm.s", "lsm_cgroup")

KPROBE_HINT = "use a tracepoint (SEC(\"tp/...\")) or a raw tracepoint (SEC(\"raw_tp/...\"))"
TRAMPOLINE_HINT = ("use a BTF tracepoint (SEC(\"tp_btf/...\")), a raw tracepoint or a "
                   "tracepoint instead")


def hook(section: str) -> str:
    return section.split("/", 1)[0]


def load_failure(err: int, program: str, section: str, messages: list[str]):
    """The error for a failed bpf_object__load; `messages` is what libbpf printed."""
    kind = hook(section) if section else ""
    if kind in _TRAMPOLINE and err in (errno.EPERM, errno.EOPNOTSUPP, ENOTSUPP):
        return NotSupportedError(
            f"program '{program}' ({section}): this kernel refuses BPF trampolines "
            f"({kind} programs)", feature=kind, hint=TRAMPOLINE_HINT)
    log = verifier_log(messages)
    if log and err in (errno.EACCES, errno.EINVAL, errno.E2BIG, errno.ENOSPC):
        return VerifierError(f"the verifier rejected program '{program}' ({section})",
                             errno=err, program=program, log=log)
    if err == errno.EPERM:
        what = f"program '{program}'" if program else "the BPF object"
        return PermissionDeniedError(f"permission denied loading {what}: run as root (or "
                                     "with CAP_BPF and CAP_PERFMON)", errno=err)
    return LoadError(f"cannot load program '{program}' ({section})" if program
                     else "cannot load the BPF object", errno=err)


def verifier_log(messages: list[str]) -> list[str]:
    """The lines between libbpf's BEGIN/END PROG LOAD LOG markers."""
    text = "".join(messages)
    start = text.rfind("-- BEGIN PROG LOAD LOG --")
    if start < 0:
        return []
    end = text.find("-- END PROG LOAD LOG --", start)
    body = text[start + len("-- BEGIN PROG LOAD LOG --"):end if end >= 0 else None]
    return [line for line in body.splitlines() if line.strip()]


def failed_program(messages: list[str]) -> str:
    """The program libbpf names in 'prog 'NAME': failed to load' style messages."""
    for text in reversed(messages):
        if "prog '" in text:
            return text.split("prog '", 1)[1].split("'", 1)[0]
    return ""


def attach_failure(err: int, program: str, section: str):
    """The error for a failed attach of `program` at `section`."""
    kind = hook(section)
    where = f"program '{program}' ({section})"
    if kind in _KPROBE and not os.path.exists(KPROBE_PMU):
        return NotSupportedError(f"cannot attach {where}: this kernel has no kprobes "
                                 "(built without CONFIG_KPROBE_EVENTS)", feature="kprobe",
                                 hint=KPROBE_HINT)
    if kind in ("tp", "tracepoint") and err == errno.ENOENT:
        parts = section.split("/")
        name = "/".join(parts[1:3])
        if len(parts) >= 3 and not os.path.isdir(os.path.join(TRACEFS, parts[1], parts[2])):
            return AttachError(f"cannot attach {where}: tracepoint '{name}' does not exist on "
                               f"this kernel (see {TRACEFS})", errno=err, program=program)
    if kind in ("raw_tp", "raw_tracepoint", "tp_btf") and err == errno.ENOENT:
        name = section.split("/", 1)[-1]
        return AttachError(f"cannot attach {where}: raw tracepoint '{name}' does not exist "
                           "on this kernel", errno=err, program=program)
    if kind in ("uprobe", "uretprobe") and err == errno.ENOENT:
        return AttachError(f"cannot attach {where}: {_uprobe_target_problem(section)}",
                           errno=err, program=program)
    if err in (errno.EPERM, errno.EACCES):
        return PermissionDeniedError(f"cannot attach {where}: permission denied", errno=err)
    return AttachError(f"cannot attach {where}", errno=err, program=program)


def _uprobe_target_problem(section: str) -> str:
    """Which half of "uprobe/BINARY:FUNCTION" could not be found."""
    target = section.split("/", 1)[1] if "/" in section else ""
    binary, _, function = target.rpartition(":")
    if not binary:
        return "binary or function not found"
    found = binary if "/" in binary else shutil.which(binary)
    if not found or not os.path.exists(found):
        return f"binary '{binary}' not found (not a path, and not on $PATH)"
    return f"function '{function}' not found in {found}"
