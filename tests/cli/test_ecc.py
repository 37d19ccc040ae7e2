"""`ecc` end to end: real clang, real vmlinux.h, the package it writes read back with BTF."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from eunomia.cli.ecc import main as ecc_main
from eunomia.errors import CompileError
from eunomia.package import Package
from tests.cli.conftest import compile_package

HAVE_TOOLS = shutil.which("clang") is not None and shutil.which("bpftool") is not None
pytestmark = [
    pytest.mark.skipif(not HAVE_TOOLS, reason="ecc needs clang and bpftool (./scripts/setup)"),
    pytest.mark.skipif(not os.path.exists("/sys/kernel/btf/vmlinux"),
                       reason="vmlinux.h is generated from the kernel's BTF"),
]

HEADER = """\
#ifndef __PROBE_H
#define __PROBE_H

#define TASK_COMM_LEN 16

struct event {
    int pid;
    int ppid;
    char comm[TASK_COMM_LEN];
    unsigned long long ts;
};

struct exit_event {
    int pid;
    int code;
};

/* never used by the program: must still be exported */
struct unused_thing {
    int a;
    char b[3];
    long long c;
};

#endif
"""

SOURCE = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "probe.h"

/// Process ID to trace
/// @cmdarg {"short": "p", "default": 0, "help": "only this process"}
const volatile int targ_pid = 0;

/// events seen so far
__u64 seen = 0;

/// exec events
/// @export event
struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 256 * 1024);
} rb SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 4096);
} exits SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
    __uint(key_size, sizeof(u32));
    __uint(value_size, sizeof(u32));
} events SEC(".maps");

/// @sample {"interval": 1000, "type": "log2_hist", "unit": "usecs"}
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16);
    __type(key, u32);
    __type(value, u64);
} hist SEC(".maps");

/// called on exec
/// @ifname lo
SEC("tp/sched/sched_process_exec")
int handle_exec(void *ctx)
{
    struct event *e;
    int pid = bpf_get_current_pid_tgid() >> 32;

    if (targ_pid && pid != targ_pid)
        return 0;
    e = bpf_ringbuf_reserve(&rb, sizeof(*e), 0);
    if (!e)
        return 0;
    e->pid = pid;
    e->ts = bpf_ktime_get_ns();
    bpf_get_current_comm(&e->comm, sizeof(e->comm));
    bpf_ringbuf_submit(e, 0);
    seen++;
    return 0;
}

SEC("tp/sched/sched_process_exit")
int handle_exit(void *ctx)
{
    struct exit_event ev = {};

    ev.pid = bpf_get_current_pid_tgid() >> 32;
    bpf_ringbuf_output(&exits, &ev, sizeof(ev), 0);
    bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &ev, sizeof(ev));
    return 0;
}

/// @brief Trace execs and exits
/// @version 1.2.3
/// @details A test program
/// for ecc.
char LICENSE[] SEC("license") = "GPL";
"""


def write_program(directory: Path, source: str = SOURCE, header: str | None = HEADER,
                  name: str = "probe", header_name: str = "probe.h") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    if header is not None:
        (directory / header_name).write_text(header)
    path = directory / f"{name}.bpf.c"
    path.write_text(source)
    return path


def run_ecc(*args, capsys=None) -> tuple[int, str, str]:
    code = ecc_main([str(a) for a in args])
    out, err = capsys.readouterr() if capsys else ("", "")
    return code, out, err


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """probe.bpf.c + probe.h compiled once by `ecc SRC HEADER -o OUT` (console entry)."""
    src_dir = tmp_path_factory.mktemp("src")
    source = write_program(src_dir)
    outdir = tmp_path_factory.mktemp("out")
    result = subprocess.run([sys.executable, "-m", "eunomia.cli.ecc", str(source),
                             str(src_dir / "probe.h"), "-o", str(outdir)],
                            capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stderr
    return outdir


def test_writes_package_skeleton_and_object(compiled):
    assert {p.name for p in compiled.iterdir()} == {"package.json", "probe.skel.json",
                                                     "probe.bpf.o"}
    package = Package.load(compiled / "package.json")
    assert package.bpf_object == (compiled / "probe.bpf.o").read_bytes()
    skeleton = json.loads((compiled / "probe.skel.json").read_text())
    assert skeleton == package.meta.to_dict()


def test_object_keeps_btf_but_not_dwarf(compiled):
    from elftools.elf.elffile import ELFFile
    with open(compiled / "probe.bpf.o", "rb") as f:
        names = {s.name for s in ELFFile(f).iter_sections()}
    assert ".BTF" in names and ".BTF.ext" in names
    assert not any(n.startswith(".debug_") for n in names)


def test_export_types_match_the_objects_btf(compiled):
    from eunomia.btf import Struct
    package = Package.load(compiled)
    btf = package.btf()
    exports = {t.name: t for t in package.meta.export_types}
    assert list(exports) == ["event", "exit_event", "unused_thing"]
    assert (exports["event"].size, exports["exit_event"].size, exports["unused_thing"].size) \
        == (32, 8, 16)
    for name, export in exports.items():
        t = btf[export.type_id]
        assert isinstance(t, Struct) and t.name == name and t.size == export.size
    assert [(m.name, m.type) for m in exports["event"].members] == [
        ("pid", "int"), ("ppid", "int"), ("comm", "char[16]"), ("ts", "unsigned long long")]
    assert [m.name for m in exports["unused_thing"].members] == ["a", "b", "c"]
    assert package.meta.enable_multiple_export_types is True


def test_output_maps_know_their_record_type(compiled):
    package = Package.load(compiled)
    maps = {m.name: m for m in package.meta.bpf_skel.maps}
    exports = {t.name: t.type_id for t in package.meta.export_types}
    # rb: from `/// @export event`; exits, events: inferred from the output calls
    assert maps["rb"].export_config == {"type": "event", "btf_type_id": exports["event"]}
    for name in ("exits", "events"):
        assert maps[name].export_config == {"type": "exit_event",
                                            "btf_type_id": exports["exit_event"]}
    assert maps["hist"].export_config is None
    assert maps["hist"].sample.to_dict() == {"interval": 1000, "type": "log2_hist",
                                             "unit": "usecs"}
    assert maps["rb"].description == "exec events"
    assert maps["probe.rodata"].mmaped is True and maps["probe.bss"].ident == "bss"


def test_data_sections_and_flags(compiled):
    package = Package.load(compiled)
    sections = {s.name: s for s in package.meta.bpf_skel.data_sections}
    assert set(sections) == {".rodata", ".bss"}
    (targ_pid,) = sections[".rodata"].variables
    assert (targ_pid.name, targ_pid.type) == ("targ_pid", "int")
    assert targ_pid.description == "Process ID to trace"
    assert targ_pid.cmdarg.to_dict() == {"default": 0, "short": "p", "help": "only this process"}
    (seen,) = sections[".bss"].variables
    assert (seen.name, seen.type, seen.description) == ("seen", "__u64", "events seen so far")
    all_names = [v.name for s in sections.values() for v in s.variables]
    assert not any(name.startswith("__eunomia") for name in all_names)


def test_programs_and_doc(compiled):
    skel = Package.load(compiled).meta.bpf_skel
    assert skel.obj_name == "probe"
    progs = {p.name: p for p in skel.progs}
    assert progs["handle_exec"].attach == "tp/sched/sched_process_exec"
    assert progs["handle_exit"].attach == "tp/sched/sched_process_exit"
    assert all(p.link for p in progs.values())
    assert progs["handle_exec"].description == "called on exec"
    assert progs["handle_exec"].extra == {"ifname": "lo"}
    assert (skel.doc.brief, skel.doc.version, skel.doc.details) == \
        ("Trace execs and exits", "1.2.3", "A test program for ecc.")


@pytest.mark.skipif(os.geteuid() != 0, reason="loading BPF programs needs root")
def test_libbpf_loads_the_object(compiled):
    runtime = pytest.importorskip("eunomia.runtime")
    if not hasattr(runtime, "BpfObject"):
        pytest.skip("eunomia.runtime.BpfObject not written yet")
    package = Package.load(compiled)
    with runtime.BpfObject.open(package.bpf_object, name=package.meta.bpf_skel.obj_name) as obj:
        obj.load()
        assert set(obj.programs) == {"handle_exec", "handle_exit"}
        assert {"rb", "exits", "events", "hist"} <= set(obj.maps)


def test_header_found_beside_the_source_and_yaml(tmp_path, capsys):
    source = write_program(tmp_path / "src")
    code, _, err = run_ecc(source, "-o", tmp_path / "out", "-y", capsys=capsys)
    assert code == 0, err
    from_json = Package.load(tmp_path / "out" / "package.json")
    assert [t.name for t in from_json.meta.export_types] == ["event", "exit_event",
                                                             "unused_thing"]
    from_yaml = yaml.safe_load((tmp_path / "out" / "package.yaml").read_text())
    assert from_yaml == json.loads((tmp_path / "out" / "package.json").read_text())


def test_output_defaults_to_the_source_directory(tmp_path, capsys):
    source = write_program(tmp_path, header_name="probe.bpf.h",
                           source=SOURCE.replace('"probe.h"', '"probe.bpf.h"'))
    code, _, err = run_ecc(source, capsys=capsys)
    assert code == 0, err
    assert (tmp_path / "package.json").is_file() and (tmp_path / "probe.bpf.o").is_file()
    assert len(Package.load(tmp_path).meta.export_types) == 3


def test_single_export_type_serves_every_output_map(tmp_path, capsys):
    header = "struct only { int x; };\n"
    source = SOURCE.replace("/// @export event\n", "")
    source = source.replace("struct event", "struct only").replace("struct exit_event",
                                                                   "struct only")
    source = source.replace("e->ts = bpf_ktime_get_ns();\n", "").replace(
        "bpf_get_current_comm(&e->comm, sizeof(e->comm));\n", "").replace("e->pid", "e->x")
    source = source.replace("ev.pid", "ev.x")
    path = write_program(tmp_path, source=source, header=header)
    code, _, err = run_ecc(path, capsys=capsys)
    assert code == 0, err
    package = Package.load(tmp_path)
    assert [t.name for t in package.meta.export_types] == ["only"]
    maps = {m.name: m for m in package.meta.bpf_skel.maps}
    assert maps["rb"].export_config["type"] == maps["exits"].export_config["type"] == "only"
    assert package.meta.enable_multiple_export_types is None


def test_ambiguous_output_map_is_packaged_with_a_warning(tmp_path, capsys):
    """Programs written for loaders of their own leave the record type open: ecc says so
    and packages them (ecli shows such records as hex, or as --record-type says)."""
    source = SOURCE.replace("/// @export event\n", "").replace(
        "e = bpf_ringbuf_reserve(&rb, sizeof(*e), 0);",
        "e = bpf_ringbuf_reserve(&rb, sizeof(*e), 0);\n"
        "    { struct exit_event *x = bpf_ringbuf_reserve(&rb, sizeof(*x), 0);"
        " if (x) bpf_ringbuf_discard(x, 0); }")
    path = write_program(tmp_path, source=source)
    code, _, err = run_ecc(path, capsys=capsys)
    assert code == 0
    line = next(ln for ln in err.splitlines() if ln.startswith("warning:"))
    assert "ring buffer map 'rb'" in line and "event, exit_event" in line
    assert "--record-type rb=STRUCT" in line and "/// @export struct_name" in line
    package = json.loads((path.parent / "package.json").read_text())
    rb = next(m for m in package["meta"]["bpf_skel"]["maps"] if m["name"] == "rb")
    assert "export_config" not in rb


def test_export_note_naming_a_missing_struct(tmp_path, capsys):
    path = write_program(tmp_path, source=SOURCE.replace("@export event", "@export nosuch"))
    code, _, err = run_ecc(path, capsys=capsys)
    assert code == 1
    assert "struct nosuch (named by '/// @export' on map 'rb') is not in the object's BTF" in err


def test_clang_error_shows_file_and_line(tmp_path, capsys):
    source = SOURCE.replace("seen++;", "seen += undefined_thing;")
    path = write_program(tmp_path, source=source)
    code, _, err = run_ecc(path, capsys=capsys)
    assert code == 1
    line_no = source.splitlines().index("    seen += undefined_thing;") + 1
    assert f"{path}:{line_no}:" in err and "undeclared identifier 'undefined_thing'" in err
    assert err.strip().splitlines()[-1].startswith(f"ecc: error: clang failed to compile {path}")
    assert ".ecc.c" not in err  # the generated wrapper stays out of the way
    assert not (tmp_path / "package.json").exists()


def test_cflags_reach_clang(tmp_path, capsys):
    source = SOURCE.replace("seen++;", "seen += ECC_TEST_EXTRA;")
    path = write_program(tmp_path, source=source)
    code, _, err = run_ecc(path, "-a", "-DECC_TEST_EXTRA=2", capsys=capsys)
    assert code == 0, err
    code, _, err = run_ecc(path, capsys=capsys)
    assert code == 1 and "ECC_TEST_EXTRA" in err


def test_verbose_shows_the_clang_command(tmp_path, capsys):
    path = write_program(tmp_path)
    code, _, err = run_ecc(path, "-v", capsys=capsys)
    assert code == 0
    assert "-target bpf" in err and "-D__TARGET_ARCH_" in err and "clang took" in err


def test_header_only_prints_export_types(tmp_path, capsys):
    write_program(tmp_path)
    code, out, err = run_ecc("--header-only", tmp_path / "probe.h", capsys=capsys)
    assert code == 0, err
    types = json.loads(out)
    assert [(t["name"], t["size"]) for t in types] == [("event", 32), ("exit_event", 8),
                                                       ("unused_thing", 16)]
    assert not (tmp_path / "package.json").exists()


def test_missing_clang_and_missing_source(tmp_path, capsys):
    path = write_program(tmp_path)
    code, _, err = run_ecc(path, "-c", tmp_path / "no-clang", capsys=capsys)
    assert code == 1 and "clang not found" in err
    code, _, err = run_ecc(tmp_path / "nowhere.bpf.c", capsys=capsys)
    assert code == 1 and "source file not found" in err


def test_library_raises_compile_error_with_diagnostics(tmp_path):
    from eunomia.compiler import compile
    path = write_program(tmp_path, source="int broken(\n")
    with pytest.raises(CompileError) as info:
        compile(path)
    assert f"{path}:" in info.value.diagnostics


# -- toolchain and vmlinux.h ---------------------------------------------------------------

def test_target_arch_names():
    from eunomia.compiler import target_arch
    assert [target_arch(m) for m in ("x86_64", "aarch64", "ppc64le", "s390x", "riscv64")] == \
        ["x86", "arm64", "powerpc", "s390", "riscv"]
    with pytest.raises(CompileError, match="unknown target architecture 'pdp11'"):
        target_arch("pdp11")


def test_clang_from_environment(monkeypatch, tmp_path):
    from eunomia.compiler import find_toolchain
    monkeypatch.setenv("CLANG", str(tmp_path / "missing-clang"))
    with pytest.raises(CompileError, match="clang not found at .*missing-clang"):
        find_toolchain()
    monkeypatch.setenv("CLANG", "clang")
    tools = find_toolchain()
    assert Path(tools.clang).name.startswith("clang") and tools.bpftool


def test_vmlinux_header_is_cached_per_kernel(tmp_path):
    import platform

    from eunomia.compiler.vmlinux import vmlinux_include_dir
    bpftool = shutil.which("bpftool")
    first = vmlinux_include_dir(bpftool, cache=tmp_path)
    assert first.parent == tmp_path / "vmlinux"
    assert first.name.startswith(platform.release() + "-") and len(first.name.split("-")[-1]) == 16
    header = first / "vmlinux.h"
    assert "struct task_struct {" in header.read_text()
    before = header.stat().st_mtime_ns
    # cached: bpftool is not run again (a missing one would fail)
    assert vmlinux_include_dir(str(tmp_path / "no-bpftool"), cache=tmp_path) == first
    assert header.stat().st_mtime_ns == before
    assert [p.name for p in first.iterdir()] == ["vmlinux.h"]  # no temporary files left


def test_unreadable_kernel_btf(tmp_path):
    from eunomia.compiler.vmlinux import vmlinux_include_dir
    with pytest.raises(CompileError, match="cannot read kernel BTF .*nothing.*CONFIG_DEBUG_INFO_BTF"):
        vmlinux_include_dir("bpftool", btf_path=str(tmp_path / "nothing"), cache=tmp_path)


def test_clang_warnings_are_shown_as_clang_wrote_them(tmp_path, capsys):
    source = SOURCE.replace("/// Process ID", '#warning "check this"\n/// Process ID')
    path = write_program(tmp_path, source=source)
    code, _, err = run_ecc(path, capsys=capsys)
    assert code == 0, err
    line_no = source.splitlines().index('#warning "check this"') + 1
    assert f'{path}:{line_no}:2: warning: "check this"' in err
    assert (tmp_path / "package.json").is_file()


def test_missing_header_argument(tmp_path, capsys):
    path = write_program(tmp_path)
    code, _, err = run_ecc(path, tmp_path / "nothere.h", capsys=capsys)
    assert code == 1 and f"header file not found: {tmp_path / 'nothere.h'}" in err


def test_data_section_map_names_follow_libbpf():
    from eunomia.compiler.objinfo import internal_map_name
    assert internal_map_name("probe", ".rodata") == "probe.rodata"
    assert internal_map_name("bootstrap", ".rodata") == "bootstra.rodata"
    assert internal_map_name("syscall_latency", ".bss") == "syscall_.bss"
    assert internal_map_name("my-tool", ".data") == "my_tool.data"
    assert internal_map_name("probe", ".rodata.cst16") == ".rodata.cst16"


# -- the precompiled vmlinux.h ---------------------------------------------------------------

def test_precompiled_vmlinux_gives_the_same_object(tmp_path, capsys, monkeypatch):
    """A fresh cache: the first ecc builds the PCH and compiles with it; the object is the
    one clang makes without it (same BTF, same instructions)."""
    from eunomia.btf import BTF
    from eunomia.compiler.pch import wants_pch
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = write_program(tmp_path)
    assert wants_pch(path.read_text(), [])
    code, _, err = run_ecc(path, "-v", "-o", tmp_path / "with", capsys=capsys)
    assert code == 0, err
    assert "-include-pch" in err
    assert list((tmp_path / "cache").rglob("vmlinux.h.*.pch"))
    # -a with any flag compiles without the PCH (the flag could change vmlinux.h's meaning)
    code, _, err = run_ecc(path, "-v", "-a", "-DUNUSED=1", "-o", tmp_path / "without",
                           capsys=capsys)
    assert code == 0, err
    assert "-include-pch" not in err
    with_pch, without = (BTF.from_elf((tmp_path / d / "probe.bpf.o").read_bytes())
                         for d in ("with", "without"))
    assert with_pch.types == without.types


def test_precompiled_vmlinux_only_when_it_comes_first():
    from eunomia.compiler.pch import wants_pch
    assert wants_pch('#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n', [])
    assert wants_pch("// c\n#include <vmlinux.h>\n", [])
    assert not wants_pch("#include <linux/bpf.h>\n#include \"vmlinux.h\"\n", [])
    assert not wants_pch("#include <linux/bpf.h>\n", [])
    assert not wants_pch('#include "vmlinux.h"\n', ["-DX=1"])


def test_a_broken_pch_falls_back_and_is_rebuilt(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = write_program(tmp_path)
    assert run_ecc(path, capsys=capsys)[0] == 0
    pch = next((tmp_path / "cache").rglob("vmlinux.h.*.pch"))
    pch.write_bytes(b"not a precompiled header")
    code, _, err = run_ecc(path, "-v", capsys=capsys)
    assert code == 0, err
    assert "dropping" in err and not pch.exists()
    assert run_ecc(path, capsys=capsys)[0] == 0 and pch.exists()     # built again


def _libbpf_headers_version() -> tuple[int, int]:
    header = Path("/usr/include/bpf/libbpf_version.h")
    if not header.exists():
        return (0, 0)
    text = header.read_text()
    major = int(text.split("LIBBPF_MAJOR_VERSION", 1)[1].split()[0])
    minor = int(text.split("LIBBPF_MINOR_VERSION", 1)[1].split()[0])
    return (major, minor)


@pytest.mark.skipif(_libbpf_headers_version() < (1, 2),
                    reason="libbpf-dev before 1.2 has no BPF_UPROBE or bpf_for "
                           "(./scripts/setup installs 1.4 from bookworm-backports)")
def test_programs_using_newer_libbpf_headers_compile(tmp_path):
    """BPF_UPROBE and bpf_for, which field programs use, compile with the libbpf headers
    the set-up installs."""
    source = Path(__file__).parent / "fixtures" / "newer_headers.bpf.c"
    package = Package.load(compile_package(source, tmp_path))
    assert [p.name for p in package.meta.bpf_skel.progs] == ["on_call"]
