"""The library and runtime on the real kernel: load, set globals, read rings, maps, errors."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import time
from pathlib import Path

import pytest

import eunomia
from eunomia.errors import NotSupportedError, VerifierError
from eunomia.runtime import BpfObject

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(os.geteuid() != 0, reason="loading BPF programs needs root"),
    pytest.mark.skipif(shutil.which("clang") is None, reason="compiling needs clang"),
]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    out = tmp_path_factory.mktemp("runtime")
    built = {}

    def build(source: Path):
        if source not in built:
            built[source] = eunomia.compile(str(source), outdir=str(out / source.stem))
        return built[source]
    return build


def exitsnoop(compiled):
    return compiled(ROOT / "examples/exitsnoop/exitsnoop.bpf.c")


def exit_child(code: int) -> int:
    child = subprocess.Popen(["sh", "-c", f"exit {code}"])
    child.wait()
    return child.pid


def collect(prog, predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in prog.events(timeout=0.2):
            if predicate(event):
                return event
    raise AssertionError("no matching event within the time limit")


def test_ring_buffer_events_through_the_library(compiled):
    with exitsnoop(compiled).open() as prog:
        prog.attach()
        pid = exit_child(4)
        event = collect(prog, lambda e: e.pid == pid)
        assert event.exit_code == 4 and event["comm"] == "sh"


def test_globals_set_before_load_filter_in_the_kernel(compiled):
    # targ_pid is a .rodata constant: only the chosen process gets through.
    other = subprocess.Popen(["sleep", "30"])
    try:
        with exitsnoop(compiled).open(targ_pid=other.pid) as prog:
            prog.attach()
            exit_child(0)
            other.kill()
            other.wait()
            event = collect(prog, lambda e: True)
            assert event.pid == other.pid
    finally:
        if other.poll() is None:
            other.kill()


def test_perf_buffer_events(compiled, tmp_path):
    target = tmp_path / "opened-file"
    target.write_text("x")
    with compiled(ROOT / "examples/opensnoop/opensnoop.bpf.c").open(
            targ_pid=os.getpid()) as prog:
        prog.attach()
        with open(target):
            pass
        event = collect(prog, lambda e: e.fname == str(target))
        assert event.pid == os.getpid()


def test_many_records_none_lost_or_duplicated(compiled):
    # More records than a few pages of the ring, read as they come: each child once.
    with exitsnoop(compiled).open() as prog:
        prog.attach()
        pids = {exit_child(0) for _ in range(60)}
        seen = []
        deadline = time.monotonic() + 20
        while not pids <= set(seen) and time.monotonic() < deadline:
            seen.extend(e.pid for e in prog.events(timeout=0.2) if e.pid in pids)
        assert sorted(seen) == sorted(pids)


def test_map_update_and_lookup_raw(compiled):
    with compiled(ROOT / "tests/cli/fixtures/perf_event.bpf.c").open() as prog:
        samples = prog.maps["samples"]
        key = struct.pack("<I", 0)
        samples.update(key, struct.pack("<Q", 41))
        assert struct.unpack("<Q", samples.lookup(key))[0] == 41
        assert key in list(samples.keys())
        assert samples.delete(key) is True or samples.type_name == "array"


def test_no_fd_leak_after_close(compiled):
    package = exitsnoop(compiled)
    with package.open() as prog:      # warm-up: libbpf caches some kernel probes
        prog.attach()
    before = set(os.listdir("/proc/self/fd"))
    for _ in range(3):
        with package.open() as prog:
            prog.attach()
            list(prog.events(timeout=0))
    assert set(os.listdir("/proc/self/fd")) == before


def test_verifier_rejection_is_typed(compiled):
    package = compiled(ROOT / "tests/cli/fixtures/verifier_reject.bpf.c")
    with pytest.raises(VerifierError) as info:
        package.open()
    assert info.value.log and "invalid mem access" in "\n".join(info.value.log)


@pytest.mark.parametrize("fixture, feature", [("kprobe", "kprobe"), ("fentry", "fentry")])
def test_missing_kernel_features_are_typed(compiled, fixture, feature):
    if feature == "kprobe" and os.path.exists("/sys/bus/event_source/devices/kprobe"):
        pytest.skip("this kernel has kprobes: the live path is covered where it has not")
    package = compiled(ROOT / f"tests/cli/fixtures/{fixture}.bpf.c")
    with pytest.raises(NotSupportedError) as info, package.open() as prog:
        prog.attach()
    assert info.value.feature == feature


def test_object_btf_is_fixed_up_by_libbpf(compiled):
    package = exitsnoop(compiled)
    with BpfObject.open(package.bpf_object, name="exitsnoop") as obj:
        rodata = [t for t in obj.btf.types if getattr(t, "name", "") == ".rodata"]
        assert rodata and rodata[0].size > 0
        assert obj.maps[".rodata"].initial_value is not None
