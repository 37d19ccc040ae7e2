"""Every bad input gives one clear line on stderr, exit code 1, and never a traceback."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import zlib

import pytest

from .conftest import ECLI, needs_clang, needs_root, run_ecli

pytestmark = [pytest.mark.kernel, needs_root, needs_clang]


def assert_clear_error(result, *fragments: str) -> str:
    """Exit 1, no traceback, an `ecli: error:` line holding every fragment; returns it."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    first = result.stderr.splitlines()[0] if result.stderr else ""
    assert first.startswith("ecli: error: "), result.stderr
    for fragment in fragments:
        assert fragment in first, f"{fragment!r} not in {first!r}"
    return first


def run_briefly(package, *flags):
    return run_ecli("run", "--duration", "0.2", package, *flags)


# -- the kernel refuses -------------------------------------------------------------------

def test_missing_tracepoint_names_it(fixture_package):
    result = run_briefly(fixture_package("missing_tp"))
    assert_clear_error(result, "nosuchcategory/nosuchevent", "does not exist")


def test_kprobe_is_not_available_here(fixture_package):
    # This kernel has kprobes compiled out; where it has them, the program would attach.
    result = run_briefly(fixture_package("kprobe"))
    line = assert_clear_error(result, "kprobe")
    assert "tracepoint" in line    # the suggestion


def test_fentry_is_not_available_here(fixture_package):
    # fentry/fexit/lsm (BPF trampolines) are refused with EPERM on this kernel.
    result = run_briefly(fixture_package("fentry"))
    line = assert_clear_error(result, "fentry")
    assert "tp_btf" in line or "tracepoint" in line


def test_verifier_rejection_shows_the_log_tail_and_all_with_v(fixture_package):
    package = fixture_package("verifier_reject")
    short = run_briefly(package)
    assert_clear_error(short, "verifier")
    tail = short.stderr.splitlines()[1:]
    assert tail, "the last verifier log lines follow the error line"
    full = run_ecli("run", "-v", "--duration", "0.2", package)
    assert full.returncode == 1
    assert len(full.stderr.splitlines()) > len(short.stderr.splitlines())
    assert "Traceback" not in full.stderr


def test_permission_denied_without_capabilities(example_package):
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is needed to drop capabilities")
    drop_caps = ("setpriv", "--inh-caps=-all", "--bounding-set=-all", "--")
    result = run_ecli("run", "--duration", "0.2", example_package("exitsnoop"),
                      prefix=drop_caps)
    assert_clear_error(result, "ermission")


def test_no_kernel_btf(example_package):
    # This kernel has BTF; hide it in a private mount namespace to see what a user of a
    # kernel without CONFIG_DEBUG_INFO_BTF gets.
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is needed to hide /sys/kernel/btf")
    hide_btf = ("unshare", "-m", "sh", "-c",
                'mount -t tmpfs none /sys/kernel/btf && exec "$@"', "sh")
    result = run_ecli("run", "--duration", "0.2", example_package("exitsnoop"),
                      prefix=hide_btf)
    assert_clear_error(result, "BTF")


# -- broken packages -----------------------------------------------------------------------

def package_dict(example_package) -> dict:
    return json.loads(example_package("exitsnoop").read_text())


def write(tmp_path, name: str, content) -> str:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def test_truncated_package(example_package, tmp_path):
    text = example_package("exitsnoop").read_text()
    result = run_briefly(write(tmp_path, "cut.json", text[: len(text) // 2]))
    assert_clear_error(result, "cut.json")


def test_size_mismatch(example_package, tmp_path):
    doc = package_dict(example_package)
    doc["bpf_object_size"] += 100
    result = run_briefly(write(tmp_path, "size.json", doc))
    assert_clear_error(result, "bpf_object_size")


def test_object_that_is_not_elf(example_package, tmp_path):
    doc = package_dict(example_package)
    junk = b"not an ELF object at all"
    doc["bpf_object"] = base64.b64encode(zlib.compress(junk)).decode()
    doc["bpf_object_size"] = len(junk)
    result = run_briefly(write(tmp_path, "junk.json", doc))
    assert_clear_error(result, "ELF")


def test_not_base64(example_package, tmp_path):
    doc = package_dict(example_package)
    doc["bpf_object"] = "%%% not base64 %%%"
    result = run_briefly(write(tmp_path, "b64.json", doc))
    assert_clear_error(result, "base64")


def test_missing_field(example_package, tmp_path):
    doc = package_dict(example_package)
    del doc["meta"]
    result = run_briefly(write(tmp_path, "nometa.json", doc))
    assert_clear_error(result, "meta")


def test_missing_file(tmp_path):
    result = run_briefly(str(tmp_path / "nowhere.json"))
    assert_clear_error(result, "nowhere.json")


def test_unreachable_url():
    # Port 9 (discard) on loopback: nothing listens there on these machines.
    result = run_briefly("http://127.0.0.1:9/package.json")
    assert_clear_error(result, "http://127.0.0.1:9/package.json")


def test_url_not_found(http_server):
    url = http_server(b"{}", path="/package.json").replace("package.json", "other.json")
    result = run_briefly(url)
    assert_clear_error(result, "404")


# -- bad flags ------------------------------------------------------------------------------

@pytest.mark.parametrize("flags, fragment", [
    (["--targ_pid", "abc"], "targ_pid"),
    (["--targ_pid", "99999999999"], "out of range"),
    (["--no_such_flag", "1"], "no_such_flag"),
], ids=["not-a-number", "out-of-range", "unknown"])
def test_bad_flag_values(example_package, flags, fragment):
    result = run_briefly(example_package("exitsnoop"), *flags)
    assert_clear_error(result, fragment)


def test_negative_duration(example_package):
    result = run_ecli("run", "--duration", "-1", example_package("exitsnoop"))
    assert_clear_error(result, "duration")


def test_uprobe_binary_not_found(fixture_package):
    # The fixture's uprobe names a binary that is not on this PATH.
    result = run_ecli("run", "--duration", "0.2", fixture_package("uprobe"),
                      prefix=("env", "PATH=/usr/bin:/bin"))
    assert_clear_error(result, "binary 'eunomia_uprobe_target' not found")


def test_uprobe_function_not_found(fixture_package, tmp_path):
    # A binary of the right name that lacks the function the probe names.
    shutil.copy("/bin/true", tmp_path / "eunomia_uprobe_target")
    result = run_ecli("run", "--duration", "0.2", fixture_package("uprobe"),
                      prefix=("env", f"PATH={tmp_path}:/usr/bin:/bin"))
    assert_clear_error(result, "function 'eunomia_target_add' not found")


@pytest.mark.parametrize("example", ["exitsnoop", "opensnoop"])
def test_kill_9_after_attach_leaves_no_program(example_package, example):
    """Tracepoint links die with the process's file descriptors."""
    import signal

    from tests.kernel.conftest import loaded_program_ids, wait_until
    names = program_names_of(example_package(example))
    others = loaded_program_ids(names)      # the same programs run by anyone else
    proc = subprocess.Popen([*ECLI, "run", str(example_package(example))],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert "attached" in proc.stderr.readline()
    ours = loaded_program_ids(names) - others
    assert ours
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    wait_until(lambda: not loaded_program_ids(names) & ours, 10,
               what="the programs to be gone")


def program_names_of(package) -> list[str]:
    import eunomia
    return [p.name for p in eunomia.Package.load(str(package)).meta.bpf_skel.progs or []]


def test_an_error_line_shows_what_it_quotes_with_controls_escaped(tmp_path):
    """A file name (or a peer's reply) quoted in the error line never sends its escape
    sequences to the terminal."""
    result = run_ecli("run", tmp_path / "no\x1b]0;pwned\x07such.json")
    line = assert_clear_error(result, "no\\x1b]0;pwned\\x07such.json")
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr, line


def test_warnings_show_what_they_quote_with_controls_escaped():
    """Every warning of the command-line tools goes through one formatter that escapes
    control characters (line breaks stay)."""
    code = ("import logging; from eunomia.cli.logs import setup_logging; setup_logging(False); "
            "logging.getLogger('eunomia.test').warning('peer said %s', '\\x1b[2Jbad\\nnext')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=True)
    assert result.stderr == "eunomia.test: peer said \\x1b[2Jbad\nnext\n"
