"""Kernels without BTF: `ecc --btfgen` tar packages and `ecli run --btf`.

This kernel has BTF, so the tests point $EUNOMIA_KERNEL_BTF at a path that does not
exist: eunomia then behaves as on a kernel without /sys/kernel/btf/vmlinux. The archive
is built from this machine's own kernel BTF, laid out as BTFHub's; CO-RE relocations then
come from the minimal BTF that ecc cut from it (a BTF without the program's types makes
the load fail, which shows it is the one used)."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import tarfile

import pytest

from eunomia.package.btfarchive import KernelId

from .conftest import ECC, ECLI, EXAMPLES, FIXTURES, needs_clang, needs_root

pytestmark = [needs_root, needs_clang,
              pytest.mark.skipif(not os.path.exists("/sys/kernel/btf/vmlinux"),
                                 reason="the archive is made from this kernel's BTF")]

NO_KERNEL_BTF = {**os.environ, "EUNOMIA_KERNEL_BTF": "/nonexistent/vmlinux"}


@pytest.fixture(scope="module")
def btfgen(tmp_path_factory):
    """(archive dir, out dir) after `ecc exitsnoop.bpf.c --btfgen ARCHIVE`."""
    root = tmp_path_factory.mktemp("btfgen")
    kernel = KernelId.here()
    archive = root / "archive"
    target = archive / kernel.path
    target.parent.mkdir(parents=True)
    shutil.copy("/sys/kernel/btf/vmlinux", target)
    # another kernel of the archive, packed as BTFHub ships them
    other = archive / "debian" / "11" / platform.machine() / "5.10.0-99-amd64.btf.tar.xz"
    other.parent.mkdir(parents=True)
    with tarfile.open(other, "w:xz") as packed:
        packed.add("/sys/kernel/btf/vmlinux", arcname="5.10.0-99-amd64.btf")
    out = root / "out"
    built = subprocess.run([*ECC, str(EXAMPLES / "exitsnoop" / "exitsnoop.bpf.c"), "-o",
                            str(out), "--btfgen", str(archive)], capture_output=True,
                           text=True, timeout=300, check=False)
    assert built.returncode == 0, built.stderr
    assert "exitsnoop.tar (2 kernel BTF file(s))" in built.stderr
    return archive, out


def run_once(*args, env=NO_KERNEL_BTF) -> tuple[int, list[dict], str]:
    """ecli run --json ARGS while a child exits with 6; (exit code, events, stderr)."""
    import json
    proc = subprocess.Popen([*ECLI, "run", "--json", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    first = proc.stderr.readline()
    child = None
    if "attached" in first:
        child = subprocess.Popen(["sh", "-c", "exit 6"])
        child.wait()
        proc.send_signal(2)
    out = proc.stdout.read()        # not communicate(): it would skip what readline()
    err = proc.stderr.read()        # buffered already
    proc.wait(timeout=60)
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    if child is not None:
        events = [e for e in events if e["pid"] == child.pid]
    return proc.returncode, events, first + err


def test_the_tar_package_holds_minimal_btf_per_kernel(btfgen):
    _, out = btfgen
    with tarfile.open(out / "exitsnoop.tar") as archive:
        members = {m.name: m.size for m in archive}
    kernel = KernelId.here()
    assert set(members) == {"package.json", f"btfhub-archive/{kernel.path}",
                            f"btfhub-archive/debian/11/{platform.machine()}/5.10.0-99-amd64.btf"}
    assert members[f"btfhub-archive/{kernel.path}"] < 64 * 1024        # minimal, not MBs
    assert os.path.getsize("/sys/kernel/btf/vmlinux") > 1024 * 1024


def test_a_tar_package_runs_on_a_kernel_without_btf(btfgen):
    _, out = btfgen
    code, events, err = run_once(out / "exitsnoop.tar")
    assert code == 0, err
    assert [e["exit_code"] for e in events] == [6]


def test_without_btf_a_json_package_says_what_to_do(btfgen):
    _, out = btfgen
    code, _, err = run_once(out / "package.json")
    assert code == 1
    assert err.strip().splitlines()[-1] == (
        "ecli: error: this kernel has no BTF (/nonexistent/vmlinux is missing): give one "
        "with --btf PATH (a BTF file, or BTFHub's archive), or run a tar package built with "
        "`ecc --btfgen`")


@pytest.mark.parametrize("source", ["archive", "tar", "file"])
def test_btf_option_takes_a_file_an_archive_or_a_tar(btfgen, source, tmp_path):
    archive, out = btfgen
    given = {"archive": archive, "tar": out / "exitsnoop.tar",
             "file": archive / KernelId.here().path}[source]
    code, events, err = run_once(out / "package.json", "--btf", given)
    assert code == 0, err
    assert [e["exit_code"] for e in events] == [6]


def test_the_btf_given_is_the_one_relocated_against(btfgen, tmp_path):
    """A minimal BTF cut for another program lacks task_struct: the load fails on the
    CO-RE relocation, so the BTF given is the one used."""
    _, out = btfgen
    other = tmp_path / "hello"
    built = subprocess.run([*ECC, str(FIXTURES / "hello_world.bpf.c"), "-o", str(other)],
                           capture_output=True, text=True, timeout=180, check=False)
    assert built.returncode == 0, built.stderr
    unrelated = tmp_path / "unrelated.btf"
    subprocess.run([shutil.which("bpftool") or "/usr/sbin/bpftool", "gen", "min_core_btf",
                    "/sys/kernel/btf/vmlinux", str(unrelated),
                    str(other / "hello_world.bpf.o")], check=True, timeout=120)
    code, _, err = run_once(out / "package.json", "--btf", unrelated, env=os.environ)
    assert code == 1
    assert "failed to resolve CO-RE relocation" in err


def test_no_btf_for_this_kernel_in_the_archive_names_it(btfgen, tmp_path):
    archive, out = btfgen
    lone = tmp_path / "archive"
    (lone / "fedora" / "38").mkdir(parents=True)
    shutil.copy(archive / KernelId.here().path, lone / "fedora" / "38" / "other.btf")
    code, _, err = run_once(out / "package.json", "--btf", lone)
    assert code == 1
    assert f"has no BTF for this kernel ({KernelId.here()}" in err


def test_prog_types(btfgen):
    _, out = btfgen
    wasm = subprocess.run([*ECLI, "run", "-p", "wasm", str(out / "package.json")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert wasm.returncode == 1
    assert wasm.stderr.strip() == (f"ecli: error: {out / 'package.json'}: not a Wasm module "
                                   "(it does not start with \\0asm)")
    not_tar = subprocess.run([*ECLI, "run", "--prog-type", "tar", str(out / "package.json")],
                             capture_output=True, text=True, timeout=60, check=False)
    assert not_tar.returncode == 1 and len(not_tar.stderr.strip().splitlines()) == 1
    assert "not a tar package" in not_tar.stderr
    code, events, err = run_once("-p", "json", out / "package.json", env=os.environ)
    assert code == 0 and [e["exit_code"] for e in events] == [6], err
