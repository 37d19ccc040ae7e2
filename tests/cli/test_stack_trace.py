"""eunomia-bpf's stack_trace interpreter: the profile example (the package shape of
upstream's, its map asking for the interpreter) samples a real busy process, and its
function shows by name."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from eunomia.decode.record import Record
from eunomia.output.stack_trace import StackTrace, stack_traces

from .conftest import FIXTURES, needs_clang, needs_root


@pytest.fixture
def busy(tmp_path):
    if shutil.which("gcc") is None:
        pytest.skip("the busy target needs gcc")
    binary = tmp_path / "busy_loop"
    subprocess.run(["gcc", "-O1", "-fno-omit-frame-pointer", "-o", str(binary),
                    str(FIXTURES / "busy_loop.c")], check=True, timeout=120)
    child = subprocess.Popen([str(binary), "60"])
    yield child
    child.kill()
    child.wait()


@needs_root
@needs_clang
def test_a_busy_function_shows_in_the_folded_stacks(example_package, ecli, busy):
    run = ecli("--stacks", "folded", "--sample-freq", "199", example_package("profile"))
    run.wait_attached()
    line = run.wait_line(lambda ln: ln.startswith("busy_loop;") and
                         "eunomia_busy_loop" in ln, 30, what="a sample in the busy loop")
    run.stop()
    frames = line.rsplit(" ", 1)[0].split(";")
    assert line.endswith(" 1")
    assert any(frame.startswith("eunomia_busy_loop+0x") for frame in frames), line


@needs_root
@needs_clang
def test_json_shows_the_frames(example_package, ecli, busy):
    run = ecli("--json", "--sample-freq", "199", example_package("profile"))
    run.wait_attached()
    event = run.wait_event(lambda e: e["pid"] == busy.pid and any(
        frame.startswith("eunomia_busy_loop") for frame in e["ustack"]), 30,
        what="a JSON sample of the busy loop")
    run.stop()
    assert event["comm"] == "busy_loop" and isinstance(event["cpu_id"], int)
    assert isinstance(event["kstack"], list)


def test_sizes_are_bytes_and_without_symbols_frames_are_addresses():
    """The layout of upstream's own test record: 16 bytes of kernel stack (2 frames) and
    128 of user stack (16), addresses (1 << 16) | i."""
    interpreter = StackTrace({role: role for role in
                              ("pid", "cpu_id", "comm", "kstack_sz", "ustack_sz", "kstack",
                               "ustack")}, with_symbols=False)
    stack = [(1 << 16) | i for i in range(128)]
    record = Record(pid=0x1234, cpu_id=0x5678, comm="test-comm", kstack_sz=16,
                    ustack_sz=128, kstack=stack, ustack=stack)
    shows = interpreter.formats()
    assert shows["kstack"](stack, record) == ["0x0000000000010000", "0x0000000000010001"]
    assert len(shows["ustack"](stack, record)) == 16
    assert shows["kstack"](stack, {**record, "kstack_sz": -14}) == ["[no stack: EFAULT]"]


@needs_clang
def test_a_field_map_and_with_symbols_come_from_the_map_meta(example_package):
    from eunomia import Package
    package = Package.load(str(example_package("profile")))
    assert stack_traces(package)["events"].with_symbols is True
    doc = package.to_dict()
    doc["meta"]["bpf_skel"]["maps"][0]["intepreter"] = {
        "stack_trace": {"field_map": {"pid": "tgid"}, "with_symbols": False}}
    changed = Package.from_dict(doc)
    found = stack_traces(changed)["events"]
    assert (found.fields["pid"], found.fields["kstack"], found.with_symbols) == (
        "tgid", "kstack", False)
