"""Shared helpers of the kernel tests: skip markers, bounded waits, compiled fixtures,
and the BPF programs the kernel has loaded right now."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import time
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "runtime"
KERNEL_BTF = "/sys/kernel/btf/vmlinux"

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="loading BPF programs needs root")
needs_btf = pytest.mark.skipif(not os.path.exists(KERNEL_BTF),
                               reason=f"the kernel exposes no BTF at {KERNEL_BTF}")
needs_clang = pytest.mark.skipif(shutil.which("clang") is None,
                                 reason="building the BPF fixtures needs clang")
needs_bpftool = pytest.mark.skipif(shutil.which("bpftool") is None,
                                   reason="generating vmlinux.h needs bpftool")


def wait_until(condition, timeout: float = 10.0, interval: float = 0.02, what: str = ""):
    """Polls `condition` until it returns something truthy (and returns that); fails the
    test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(interval)


def loaded_programs() -> dict[int, str]:
    """{id: name} of every BPF program loaded in the kernel now (`bpftool -j prog show`)."""
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True,
                         check=True, timeout=30).stdout
    return {p["id"]: p.get("name", "") for p in json.loads(out or "[]")}


def exit_child(code: int) -> int:
    """Starts `sh -c 'exit CODE'`, waits for it, and returns its pid: an exit to trace."""
    child = subprocess.Popen(["sh", "-c", f"exit {code}"])
    child.wait()
    return child.pid


def held_program_ids(pid: int, names) -> set[int]:
    """Ids of the programs named one of `names` that process `pid` holds an fd of: its
    own, whatever else runs on the machine meanwhile."""
    held = set()
    fdinfo = Path(f"/proc/{pid}/fdinfo")
    for info in fdinfo.iterdir():
        try:
            lines = info.read_text().splitlines()
        except OSError:         # closed meanwhile
            continue
        held.update(int(line.split()[1]) for line in lines if line.startswith("prog_id:"))
    return held & loaded_program_ids(names)


def loaded_program_ids(names) -> set[int]:
    """Ids of the loaded programs whose name is one of `names` (the kernel keeps 15
    characters of a name)."""
    wanted = {name[:15] for name in names}      # bpftool may show the whole name (BTF)
    return {pid for pid, name in loaded_programs().items() if name[:15] in wanted}


_TARGET_ARCH = {"x86_64": "x86", "aarch64": "arm64", "riscv64": "riscv", "s390x": "s390",
                "ppc64le": "powerpc"}


@pytest.fixture(scope="session")
def vmlinux_dir(tmp_path_factory) -> Path:
    """A directory holding vmlinux.h dumped from this kernel's BTF."""
    if shutil.which("bpftool") is None:
        pytest.skip("generating vmlinux.h needs bpftool")
    if not os.path.exists(KERNEL_BTF):
        pytest.skip(f"the kernel exposes no BTF at {KERNEL_BTF}")
    out = tmp_path_factory.mktemp("vmlinux")
    header = subprocess.run(["bpftool", "btf", "dump", "file", KERNEL_BTF, "format", "c"],
                            capture_output=True, check=True, timeout=120).stdout
    (out / "vmlinux.h").write_bytes(header)
    return out


@pytest.fixture(scope="session")
def bpf_fixture(vmlinux_dir, tmp_path_factory):
    """bpf_fixture("getppid") -> ELF bytes of fixtures/runtime/getppid.bpf.c, built once."""
    if shutil.which("clang") is None:
        pytest.skip("building the BPF fixtures needs clang")
    out = tmp_path_factory.mktemp("bpf-fixtures")
    arch = _TARGET_ARCH.get(platform.machine(), "x86")
    built: dict[str, bytes] = {}

    def build(name: str) -> bytes:
        if name not in built:
            obj = out / f"{name}.bpf.o"
            result = subprocess.run(
                ["clang", "-O2", "-g", "-target", "bpf", f"-D__TARGET_ARCH_{arch}",
                 "-I", str(vmlinux_dir), "-c", str(FIXTURES / f"{name}.bpf.c"), "-o", str(obj)],
                capture_output=True, text=True, timeout=120, check=False)
            assert result.returncode == 0, f"clang {name}.bpf.c failed:\n{result.stderr}"
            built[name] = obj.read_bytes()
        return built[name]
    return build


@pytest.fixture(scope="session")
def user_binary(tmp_path_factory):
    """user_binary("uprobe_target") -> path of fixtures/runtime/uprobe_target.c built
    with the host C compiler, once."""
    compiler = shutil.which("gcc") or shutil.which("cc") or shutil.which("clang")
    if compiler is None:
        pytest.skip("building the user-space fixture needs a C compiler")
    out = tmp_path_factory.mktemp("user-fixtures")
    built: dict[str, Path] = {}

    def build(name: str) -> Path:
        if name not in built:
            binary = out / name
            result = subprocess.run([compiler, "-O1", "-g", "-o", str(binary),
                                     str(FIXTURES / f"{name}.c")],
                                    capture_output=True, text=True, timeout=120, check=False)
            assert result.returncode == 0, f"building {name}.c failed:\n{result.stderr}"
            built[name] = binary
        return built[name]
    return build
