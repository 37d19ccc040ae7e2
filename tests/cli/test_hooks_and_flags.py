"""Flags from globals reach the kernel; uprobe, XDP, perf_event and keyed histograms work."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess

import pytest

from tests.kernel.conftest import loaded_program_ids

from .conftest import FIXTURES, needs_clang, needs_root, one_error_line, run_ecli, wait_until

pytestmark = [pytest.mark.kernel, needs_root, needs_clang]


def exec_child() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_flags_set_every_global_type(fixture_package, ecli):
    chosen = {"flag_bool": True, "flag_s8": -128, "flag_u8": 255, "flag_s16": -32768,
              "flag_u16": 65535, "flag_s32": -2147483648, "flag_u32": 4294967295,
              "flag_s64": -(2**63), "flag_u64": 2**64 - 1, "flag_str": "fifteen chars!!"}
    args = []
    for name, value in chosen.items():
        args += [f"--{name}", str(value).lower() if isinstance(value, bool) else str(value)]
    run = ecli("--json", fixture_package("globals"), *args)
    run.wait_attached()
    pids: list[int] = []

    def mine():
        pids.append(exec_child())
        return next((e for e in run.json_events() if e["pid"] in pids), None)
    event = wait_until(mine, 15, what="an exec event from our child")
    for name, value in chosen.items():
        assert event[name] == value, name
    assert event["data_value"] == 7
    run.stop()


def test_omitted_flags_keep_compiled_values(fixture_package, ecli):
    run = ecli("--json", fixture_package("globals"), "-f", "9")
    run.wait_attached()
    pids: list[int] = []

    def mine():
        pids.append(exec_child())
        return next((e for e in run.json_events() if e["pid"] in pids), None)
    event = wait_until(mine, 15, what="an exec event from our child")
    assert event["flag_u8"] == 9                      # set with its short name
    assert event["flag_u32"] == 4000000000            # compiled into the object
    assert event["flag_s64"] == -6400000000
    assert event["flag_str"] == "hello"
    run.stop()


def _table_row(lines: list[str], pids: list[int]) -> dict | None:
    """The table row of one of `pids`, by header name."""
    header = next((line.split() for line in lines if line.startswith("TIME")), None)
    for cells in (line.split() for line in lines):
        if header and len(cells) == len(header) and cells[header.index("PID")] in \
                map(str, pids):
            return dict(zip(header, cells))
    return None


def test_a_run_without_words_sets_the_sources_flag_defaults(fixture_package, ecli,
                                                            tmp_path):
    """`ecli run FILE` reads no flags (cli/early.py builds no parser), yet a global whose
    @cmdarg has a default of its own, other than the compiled value, gets it, as a run
    with flags does; the others keep their compiled values."""
    def other_default(variable):
        if variable["name"] == "flag_u8":
            variable["cmdarg"]["default"] = 77          # compiled: 200
    run = ecli(_edited_globals(fixture_package, tmp_path, other_default))
    run.wait_attached()
    pids: list[int] = []

    def mine():
        pids.append(exec_child())
        return _table_row(list(run.lines), pids)
    row = wait_until(mine, 15, what="a table row of our child's exec")
    assert row["FLAG_U8"] == "77"
    assert row["FLAG_U32"] == "4000000000" and row["FLAG_STR"] == "hello"
    run.stop()


def _edited_globals(fixture_package, tmp_path, edit) -> str:
    """The globals fixture's package with `edit(variable)` applied to each global."""
    doc = json.loads(fixture_package("globals").read_text())
    for section in doc["meta"]["bpf_skel"]["data_sections"]:
        for variable in section["variables"]:
            edit(variable)
    path = tmp_path / "package.json"
    path.write_text(json.dumps(doc))
    return str(path)


@pytest.mark.parametrize("words", [[], ["--duration", "30"]])
def test_a_warning_of_the_library_reaches_stderr_in_ecli_run(fixture_package, ecli,
                                                             tmp_path, words):
    """A run sets logging up on its first message only (eunomia.logs): a warning still
    reaches stderr, in ecli's format (the logger's name first); with no words too (a
    short flag's name is the parser's to check, so that run builds it all the same)."""
    def taken(variable):
        variable.get("cmdarg", {}).pop("default", None)  # only the short name needs it
        if variable["name"] == "flag_u8":
            variable["cmdarg"]["short"] = "h"              # ecli's -h: taken
    run = ecli(_edited_globals(fixture_package, tmp_path, taken), *words)
    run.wait_attached()
    warning = "eunomia.flags: the package asks for '-h' as the short flag of 'flag_u8'"
    assert any(warning in line for line in run.errors), run.errors
    assert run.stop() == 0


def test_a_run_without_words_checks_the_globals_as_with_flags(fixture_package, tmp_path):
    """`ecli run FILE` builds no flags' parser, yet a meta listing a global the object
    does not have is refused with the same one line as with flags."""
    def broken(variable):
        variable.pop("cmdarg", None)                    # nothing that needs the parser
        if variable["name"] == "flag_u8":
            variable["name"] = "flag_u8_x"
    path = _edited_globals(fixture_package, tmp_path, broken)
    without = one_error_line(run_ecli("run", path), "flag_u8_x")
    assert one_error_line(run_ecli("run", path, "--json"), "flag_u8_x") == without


def test_ecli_run_file_starts_its_load_with_few_imports(fixture_package, tmp_path):
    """What `ecli run FILE` has imported when its load starts (cli/early.py), live: a
    package with short flags (free ones) takes the early way, and by then neither
    argparse, logging, signal's enums, the session's or the flags' modules, the globals'
    BTF reader nor the output layer is loaded (the static twin is in tests/architecture)."""
    import sys
    path = _edited_globals(fixture_package, tmp_path,
                           lambda v: v.get("cmdarg", {}).pop("default", None))
    wanted = ["argparse", "logging", "signal", "eunomia.cli.logs", "eunomia.session.settings",
              "eunomia.session.flags", "eunomia.variables", "eunomia.output.settings",
              "eunomia.loaded.live"]
    code = ("import sys\n"
            "from eunomia.cli.early import start_early_run\n"
            f"early = start_early_run(['run', {path!r}])\n"
            f"print(early is not None, *sorted(set(sys.modules) & set({wanted!r})))\n"
            "early.discard()\n")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=60, check=True)
    assert shown.stdout.split() == ["True"], shown.stdout + shown.stderr


def test_the_run_options_short_names_are_known_without_the_parser():
    """early.needs_parser tells a taken short flag without building the parser: from
    cli.early.RUN_SHORT_OPTIONS, which must be the run options' short names."""
    from eunomia.cli.early import RUN_SHORT_OPTIONS
    from eunomia.session.flags import FlagParser, add_run_options
    parser = FlagParser(prog="ecli run")
    add_run_options(parser)
    shorts = {name for name in parser._option_string_actions
              if len(name) == 2 and name[0] == "-" and name[1] != "-"}
    assert shorts == RUN_SHORT_OPTIONS


def test_settings_without_words_are_the_parsers(fixture_package, tmp_path):
    """What `ecli run FILE` runs with, without a parser, is what the parser gives for no
    words: RunSettings() for a package whose flags need no parser (short names that are
    free are fine), the parser's own answer (the source's defaults) for one whose flags
    do."""
    import eunomia
    from eunomia.cli.early import needs_parser
    from eunomia.cli.run import _run_settings
    from eunomia.session import RunSettings, parse_run_args
    shorts_only = _edited_globals(fixture_package, tmp_path,
                                  lambda v: v.get("cmdarg", {}).pop("default", None))
    for path, parsed in ((fixture_package("hello_world"), False), (shorts_only, False),
                         (fixture_package("globals"), True)):
        package = eunomia.Package.load(str(path))
        assert needs_parser(package) is parsed, path
        settings = _run_settings(package, [], None)
        assert settings == parse_run_args(package, []), path
        assert (settings == RunSettings()) is not parsed, path


def test_eunomia_bpf_bool_switches(fixture_package):
    """eunomia-bpf names bool flags --enable-NAME / --disable-NAME: both set the global."""
    import eunomia
    from eunomia.session import parse_run_args
    package = eunomia.Package.load(str(fixture_package("globals")))
    assert parse_run_args(package, ["--enable-flag_bool"]).values["flag_bool"] is True
    assert parse_run_args(package, ["--disable-flag_bool"]).values["flag_bool"] is False
    assert parse_run_args(package, ["--flag_bool"]).values["flag_bool"] is True
    # the switches share the flag's default (@cmdarg's false here): unset, it still holds
    assert parse_run_args(package, []).values["flag_bool"] is False
    shown = " ".join(run_ecli("run", fixture_package("globals"), "--help").stdout.split())
    assert "--enable-flag_bool and --disable-flag_bool as in eunomia-bpf" in shown


@pytest.mark.parametrize("flags, fragment", [
    (["--flag_u8", "256"], "flag_u8"),
    (["--flag_s8", "-129"], "flag_s8"),
    (["--flag_str", "sixteen chars!!!"], "flag_str"),
    (["--flag_bool", "maybe"], "flag_bool"),
], ids=["u8-too-big", "s8-too-small", "string-too-long", "not-a-bool"])
def test_flag_values_are_checked(fixture_package, flags, fragment):
    result = run_ecli("run", "--duration", "0.2", fixture_package("globals"), *flags)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert fragment in result.stderr.splitlines()[0]


def test_program_help_lists_globals_with_short_names(fixture_package):
    result = run_ecli("run", fixture_package("globals"), "--help")
    assert result.returncode == 0
    assert "-f N, --flag_u8 N" in result.stdout
    assert "echoes every global variable" in result.stdout   # the package's @brief
    assert "0.1.0" in result.stdout                          # and its @version


def test_uprobe_sees_calls_and_returns(fixture_package, ecli, tmp_path):
    if shutil.which("cc") is None:
        pytest.skip("building the uprobe target needs a C compiler")
    target = tmp_path / "eunomia_uprobe_target"
    subprocess.run(["cc", "-O0", "-g", "-o", str(target), str(FIXTURES / "uprobe_target.c")],
                   check=True)
    # The sections name the binary without a path, so libbpf finds it on $PATH.
    path = f"{tmp_path}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    run = ecli("--json", fixture_package("uprobe"), prefix=("env", f"PATH={path}"))
    run.wait_attached()
    child = subprocess.run([str(target), "2", "3"], capture_output=True, text=True, check=True)
    assert child.stdout.strip() == "5"
    call = run.wait_event(lambda e: not e["is_return"], what="the call")
    ret = run.wait_event(lambda e: e["is_return"], what="the return")
    assert (call["a"], call["b"]) == (2, 3)
    assert ret["ret"] == 5
    assert call["pid"] == ret["pid"]
    run.stop()


def test_xdp_attaches_to_loopback_and_detaches(fixture_package, ecli):
    run = ecli(fixture_package("xdp"))
    run.wait_attached()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"x" * 100, ("127.0.0.1", 9))
    assert run.stop() == 0
    link = subprocess.run(["ip", "-d", "link", "show", "lo"], capture_output=True,
                          text=True, check=False).stdout
    assert "prog/xdp" not in link


def test_perf_event_program_attaches(fixture_package, ecli):
    run = ecli(fixture_package("perf_event"), "--sample-freq", "99")
    run.wait_attached()
    assert any("attached 1 program" in line for line in run.errors)
    assert run.stop() == 0


def test_histogram_with_struct_key_prints_one_section_per_key(fixture_package, ecli):
    run = ecli(fixture_package("histogram"), "--targ_pid", str(os.getpid()))
    run.wait_attached()
    bucket = re.compile(r"^\s*\d+\s*->\s*\d+\s*:\s*(\d+)\s*\|")

    def our_section():
        os.getppid()    # a syscall of our own each poll
        lines = list(run.lines)
        return any(str(os.getpid()) in ln and "comm" in ln for ln in lines) and any(
            (m := bucket.match(ln)) and int(m.group(1)) > 0 for ln in lines)
    wait_until(our_section, 15, what="a histogram section keyed by our pid")
    run.stop()


def tc_filters() -> str:
    return subprocess.run(["tc", "filter", "show", "dev", "lo", "ingress"],
                          capture_output=True, text=True, check=False).stdout


def tc_qdiscs() -> str:
    return subprocess.run(["tc", "qdisc", "show", "dev", "lo"], capture_output=True,
                          text=True, check=False).stdout


def tcx_links_of(program: str) -> list[dict]:
    """tcx links (bpftool 7.1 shows their type as 11) whose program is named `program`."""
    ids = loaded_program_ids([program])
    links = json.loads(subprocess.run(["bpftool", "-j", "link", "show"], capture_output=True,
                                      text=True, check=True).stdout or "[]")
    return [link for link in links if link.get("prog_id") in ids
            and link.get("type") in ("tcx", 11)]


def attached_tc(fixture_package, ecli):
    """(ecli running the tc fixture, lo's qdiscs before it), once its tcx link is there."""
    if shutil.which("tc") is None:
        pytest.skip("tc (iproute2) is needed to look at the interface")
    qdiscs = tc_qdiscs()
    run = ecli(fixture_package("tc"))
    run.wait_attached()
    assert len(tcx_links_of("count_packets")) == 1
    return run, qdiscs


def test_tc_attaches_as_a_tcx_link_and_detaches(fixture_package, ecli):
    run, qdiscs = attached_tc(fixture_package, ecli)
    assert "count_packets" not in tc_filters()       # a link, not a netlink filter
    assert run.stop() == 0
    assert tcx_links_of("count_packets") == [] and not loaded_program_ids(["count_packets"])
    assert tc_qdiscs() == qdiscs


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGKILL])
def test_a_killed_ecli_leaves_no_tc_program_behind(fixture_package, ecli, sig):
    """The kernel drops a tcx link with its last fd: even kill -9 leaves nothing."""
    run, qdiscs = attached_tc(fixture_package, ecli)
    run.proc.send_signal(sig)
    run.proc.wait(timeout=30)
    wait_until(lambda: not loaded_program_ids(["count_packets"]), 10,
               what="the tc program to be gone")
    assert tcx_links_of("count_packets") == []
    assert "count_packets" not in tc_filters() and tc_qdiscs() == qdiscs


def test_the_clsact_fallback_attaches_and_cleans_up(fixture_package):
    """Kernels before 6.6 have no tcx: the netlink clsact path, driven directly here
    (this kernel would take tcx)."""
    if shutil.which("tc") is None:
        pytest.skip("tc (iproute2) is needed to look at the attached filter")
    import eunomia
    from eunomia.runtime.attach.tc import clsact
    qdiscs = tc_qdiscs()
    with eunomia.Package.load(str(fixture_package("tc"))).open() as prog:
        link = clsact(prog.programs["count_packets"], 1, "lo", ingress=True)
        assert "count_packets" in tc_filters()
        link.detach()
        assert "count_packets" not in tc_filters()
    assert tc_qdiscs() == qdiscs


def test_verbose_shows_libbpf_log(fixture_package):
    result = run_ecli("run", "-v", "--duration", "0.2", fixture_package("xdp"))
    assert result.returncode == 0, result.stderr
    assert "libbpf" in result.stderr
