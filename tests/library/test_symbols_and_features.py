"""Kernel symbols and feature probes on this kernel: a known function resolves with its
offset, a stack captured by a real program names kernel functions, and each probe
answers (kprobes and trampolines: no, with the reason, on this kernel)."""

from __future__ import annotations

import os

import pytest

from eunomia import features
from eunomia.errors import SymbolError
from eunomia.symbols import KernelSymbols, frames
from tests.kernel.conftest import needs_btf, needs_root

pytestmark = [needs_root, needs_btf]


def test_known_kernel_function_resolves():
    ksyms = KernelSymbols()
    address = ksyms.address_of("vfs_read")
    assert address and address >= 0xffff800000000000
    symbol = ksyms.resolve(address + 0x10)
    assert (symbol.name, symbol.offset) == ("vfs_read", 0x10)
    assert ksyms.format(address + 0x10) == "vfs_read+0x10"
    assert ksyms.address_of("no_such_function_here") is None


def test_hidden_kallsyms_is_a_clear_error(tmp_path):
    hidden = tmp_path / "kallsyms"
    hidden.write_text("0000000000000000 T vfs_read\n0000000000000000 T vfs_write\n")
    with pytest.raises(SymbolError, match="no addresses: run as root"):
        KernelSymbols(str(hidden))


def test_a_captured_stack_names_kernel_functions(library_package):
    with library_package("maps").open(targ_tgid=os.getpid()) as prog:
        prog.attach("exercise")
        os.getppid()
        prog.detach()
        stack_id = prog.maps["results"][5] - 1
        stack = frames(prog.maps["stacks"].walk(stack_id))
    names = [frame.symbol.name for frame in stack]
    assert all(frame.kernel for frame in stack)
    # the tracepoint fired inside the getppid system call
    assert any("getppid" in name or "syscall" in name for name in names), names
    assert all(str(frame).startswith(frame.symbol.name + "+0x") for frame in stack)


def test_probes_answer_and_are_cached():
    answers = features.summary()
    assert set(answers) == {"libbpf", "kernel_btf", "kprobes", "trampolines", "ring_buffer",
                            "user_ring_buffer", "batch_map_ops", "bpf_stats"}
    for name in ("libbpf", "kernel_btf", "ring_buffer", "batch_map_ops", "bpf_stats"):
        assert answers[name], f"{name}: {answers[name]}"
    assert features.kprobes() is features.kprobes()          # cached


@pytest.mark.skipif(os.path.exists(features.KPROBE_PMU), reason="this kernel has kprobes")
def test_missing_kprobes_say_so():
    answer = features.kprobes()
    assert not answer and answer.answer == features.NO
    assert "without kprobes" in answer.reason and "tracepoints" in answer.reason


def test_the_libbpf_probe_names_the_loaded_version_and_its_calls():
    """The version comes from the library itself, the calls from its symbol table: on
    the libbpf 1.4 that ./scripts/setup installs both newer links are offered; on 1.1
    neither, and the code keeps to 1.1's calls."""
    import ctypes
    answer = features.libbpf()
    lib = ctypes.CDLL("libbpf.so.1")
    major, minor = lib.libbpf_major_version(), lib.libbpf_minor_version()
    assert answer and answer.reason.startswith(f"libbpf {major}.{minor}")
    newer = (major, minor) >= (1, 3)
    assert ("tcx links" in answer.reason) == newer
    assert ("uprobe-multi links" in answer.reason) == newer


def test_trampolines_answer_from_a_real_load():
    answer = features.trampolines()
    assert answer.answer in (features.YES, features.NO)
    if not answer:      # this machine: EPERM at load
        assert "refused an fentry program" in answer.reason
