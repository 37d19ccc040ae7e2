"""Programs of the field as they are written: the overview's hello world (<linux/bpf.h>,
no vmlinux.h), signed division (clang 18+), a ring buffer whose record type nobody
declared, and eunomia-bpf's own package forms (no `attach`, `custom_members`)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from .conftest import ECC, FIXTURES, compile_package, needs_clang, needs_root, wait_until

pytestmark = [needs_root, needs_clang]


def getppid_child(count: int) -> subprocess.Popen:
    """A process that calls getppid() `count` times once it reads a line."""
    code = f"import os, sys; sys.stdin.readline(); [os.getppid() for _ in range({count})]"
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, text=True)


def go(child: subprocess.Popen) -> None:
    child.stdin.write("go\n")
    child.stdin.flush()
    child.wait(timeout=30)


def test_the_overview_hello_world_as_written(tmp_path, ecli):
    """`ecc hello.bpf.c` then `ecli run package.json`, with the program exactly as the
    overview prints it: <linux/bpf.h>, `typedef int pid_t;`, bpf_printk on every write."""
    shutil.copy(FIXTURES / "hello_world.bpf.c", tmp_path / "hello.bpf.c")
    built = subprocess.run([*ECC, "hello.bpf.c"], cwd=tmp_path, capture_output=True,
                           text=True, timeout=180, check=False)
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "package.json").is_file()
    traced = ecli(tmp_path / "package.json", "--trace")
    traced.wait_attached()
    pids: list[int] = []

    def seen():
        child = subprocess.Popen(["sh", "-c", "echo hello"], stdout=subprocess.DEVNULL)
        child.wait()
        pids.append(child.pid)
        return any(f"BPF triggered from PID {pid}." in line
                   for line in list(traced.lines) for pid in pids)
    wait_until(seen, 15, what="the hello world's bpf_printk lines")
    assert not any(f"BPF triggered from PID {traced.proc.pid}." in line
                   for line in traced.lines), "ecli's own writes must not feed back"
    traced.stop()


def _clang_major() -> int:
    from eunomia.compiler import find_toolchain
    out = subprocess.run([find_toolchain().clang, "--version"], capture_output=True,
                         text=True, check=False).stdout
    match = re.search(r"clang version (\d+)", out)
    return int(match.group(1)) if match else 0


def test_signed_division_compiles_with_a_newer_clang_and_runs(tmp_path):
    if _clang_major() < 18:
        pytest.skip("signed division needs clang 18 or newer (./scripts/setup installs "
                    "clang-19)")
    built = subprocess.run([*ECC, str(FIXTURES / "signed_division.bpf.c"), "-o",
                            str(tmp_path)], capture_output=True, text=True, timeout=180,
                           check=False)
    assert built.returncode == 0, built.stderr
    assert "compiled with -mcpu=v4" in built.stderr
    import eunomia
    with eunomia.Package.load(str(tmp_path / "package.json")).open(
            targ_tgid=os.getpid(), divisor=-3) as prog:
        prog.attach()
        os.getppid()
        assert prog.maps[".bss"][0]["result"] == os.getpid() // 3     # -pid / -3


@pytest.fixture(scope="module")
def raw_package(tmp_path_factory):
    out = tmp_path_factory.mktemp("raw")
    built = subprocess.run([*ECC, str(FIXTURES / "raw_ringbuf.bpf.c"), "-o", str(out)],
                           capture_output=True, text=True, timeout=180, check=False)
    assert built.returncode == 0, built.stderr
    assert "cannot tell which struct ring buffer map 'rb' carries" in built.stderr
    return out / "package.json"


def _records(ecli, package, *args):
    child = getppid_child(2)
    run = ecli(package, "--targ_tgid", child.pid, *args)
    run.wait_attached()
    go(child)
    return child.pid, run


def test_records_of_no_declared_type_show_as_size_and_hex(raw_package, ecli):
    pid, run = _records(ecli, raw_package)
    row = run.wait_line(lambda line: "efbeedfe" in line, what="a hex row")
    assert run.lines[0].split() == ["TIME", "SIZE", "DATA"]
    assert row.split()[1:] == ["16", pid.to_bytes(4, "little").hex() + "efbeedfe"
                               + "00" * 8]
    assert any("--record-type rb=STRUCT" in line for line in run.errors)
    run.stop()
    pid, run = _records(ecli, raw_package, "--json")
    event = run.wait_event(lambda e: e["data"].endswith("01" + "00" * 7))
    assert event == {"size": 16, "data": pid.to_bytes(4, "little").hex() + "efbeedfe"
                     + "01" + "00" * 7}
    run.stop()


def test_record_type_picks_a_struct_at_run_time(raw_package, ecli):
    pid, run = _records(ecli, raw_package, "--json", "--record-type", "rb=raw_event")
    run.wait_event(lambda e: e["seq"] == 1)
    assert [e for e in run.json_events()] == [
        {"pid": pid, "magic": 0xfeedbeef, "seq": 0}, {"pid": pid, "magic": 0xfeedbeef,
                                                      "seq": 1}]
    assert not any("no declared type" in line for line in run.errors)
    run.stop()
    bad = subprocess.run([sys.executable, "-m", "eunomia.cli.ecli", "run", str(raw_package),
                          "--record-type", "rb=no_such_struct"], capture_output=True,
                         text=True, timeout=60, check=False)
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines()[-1] == \
        "ecli: error: the object's BTF has no struct or union 'no_such_struct'"


def test_eunomia_bpf_custom_members_decode(raw_package, tmp_path, ecli):
    """export_config {"custom_members": [{name, offset, btf_type_id}]}, as eunomia-bpf's
    own ecc may write it."""
    import eunomia
    from eunomia.btf import Int
    package = eunomia.Package.load(str(raw_package))
    btf = package.btf()
    u32 = next(i for i, t in enumerate(btf.types) if isinstance(t, Int) and t.size == 4
               and not t.signed)
    u64 = next(i for i, t in enumerate(btf.types) if isinstance(t, Int) and t.size == 8
               and not t.signed)
    doc = json.loads(raw_package.read_text())
    for map_meta in doc["meta"]["bpf_skel"]["maps"]:
        if map_meta["name"] == "rb":
            map_meta["export_config"] = {"custom_members": [
                {"name": "who", "offset": 0, "btf_type_id": u32},
                {"name": "n", "offset": 8, "btf_type_id": u64}]}
    custom = tmp_path / "package.json"
    custom.write_text(json.dumps(doc))
    pid, run = _records(ecli, custom, "--json")
    run.wait_event(lambda e: e["n"] == 1)
    assert run.json_events() == [{"who": pid, "n": 0}, {"who": pid, "n": 1}]
    run.stop()


def test_a_package_without_attach_runs_from_its_sections(example_package, tmp_path, ecli):
    doc = json.loads(example_package("exitsnoop").read_text())
    for prog in doc["meta"]["bpf_skel"]["progs"]:
        del prog["attach"]
    upstream = tmp_path / "package.json"
    upstream.write_text(json.dumps(doc))
    run = ecli("--json", upstream)
    run.wait_attached()
    child = subprocess.Popen(["sh", "-c", "exit 7"])
    child.wait()
    assert run.wait_event(lambda e: e["pid"] == child.pid)["exit_code"] == 7
    run.stop()


def test_a_linux_types_program_compiles(tmp_path):
    """The pre-vmlinux.h style: <linux/types.h> needs <asm/types.h> from the host's
    multiarch include directory, which ecc adds as libbpf-tools does."""
    source = tmp_path / "minimal.bpf.c"
    source.write_text('#include <linux/types.h>\n#include <linux/bpf.h>\n'
                      '#include <bpf/bpf_helpers.h>\n\n__u64 calls = 0;\n\n'
                      'SEC("tp/syscalls/sys_enter_getppid")\nint count(void *ctx)\n{\n'
                      '\t__sync_fetch_and_add(&calls, 1);\n\treturn 0;\n}\n\n'
                      'char LICENSE[] SEC("license") = "GPL";\n')
    compile_package(source, tmp_path / "out")


def test_a_standalone_tool_runs_like_ecli_run(tmp_path):
    """`ecc --standalone -o TOOL`: one executable holding the package and the runtime. It
    runs with python3 alone (-S: no site-packages, so no installed eunomia, pyelftools or
    PyYAML) from a directory of its own."""
    tool = tmp_path / "tools" / "exitsnoop-tool"
    tool.parent.mkdir()
    from .conftest import EXAMPLES
    built = subprocess.run([*ECC, str(EXAMPLES / "exitsnoop" / "exitsnoop.bpf.c"),
                            "--standalone", "-o", str(tool)], capture_output=True, text=True,
                           timeout=180, check=False)
    assert built.returncode == 0, built.stderr
    assert os.access(tool, os.X_OK) and (tool.parent / "package.json").is_file()
    shown = subprocess.run([str(tool), "--help"], capture_output=True, text=True, timeout=60,
                           check=False)
    assert shown.returncode == 0
    assert shown.stdout.startswith("usage: exitsnoop-tool")
    assert "--targ_pid" in shown.stdout or "-p N" in shown.stdout     # the program's flags
    env = {"PATH": "/usr/bin:/bin"}
    run = subprocess.Popen(["python3", "-S", str(tool), "--json"], cwd="/", env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "attached" in run.stderr.readline()
        child = subprocess.Popen(["sh", "-c", "exit 9"])
        child.wait()
    finally:
        run.send_signal(2)      # the stop writes every record already sent
        out, err = run.communicate(timeout=30)
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert {"pid": child.pid, "exit_code": 9} in [
        {"pid": e["pid"], "exit_code": e["exit_code"]} for e in events], err
    bad = subprocess.run([str(tool), "--nope"], capture_output=True, text=True, timeout=60,
                         check=False)
    assert bad.returncode == 1
    assert bad.stderr.strip() == "exitsnoop-tool: error: unrecognized arguments: --nope"
