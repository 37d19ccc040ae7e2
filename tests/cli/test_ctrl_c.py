"""The installed commands: Ctrl-C at any moment of their start (no traceback, exit 130,
no program left), and --version.

The installed commands are our own launchers (bin/), whose first statement takes SIGINT
over, and the site hook bin/00-eunomia-sigint.pth takes it over even earlier, before the
environment's other site hooks (this image has one importing certifi for ~30 ms)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import sysconfig
import textwrap
import time
from pathlib import Path

import pytest

from tests.kernel.conftest import loaded_program_ids, wait_until

from .conftest import ROOT, needs_root

SCRIPTS = Path(sysconfig.get_path("scripts"))
SITE_HOOK = "00-eunomia-sigint.pth"


def test_installed_commands_are_the_launchers_and_the_site_hook():
    """scripts/setup installs bin/'s launchers and site hook as they are here."""
    for name in ("ecli", "ecc", "eunomia-exporter"):
        installed = (SCRIPTS / name).read_text().splitlines()
        assert installed[1:] == (ROOT / "bin" / name).read_text().splitlines()[1:], name
    hook = Path(sysconfig.get_path("purelib")) / SITE_HOOK
    assert hook.read_bytes() == (ROOT / "bin" / SITE_HOOK).read_bytes()


def test_site_hook_leaves_other_programs_alone():
    out = subprocess.run([sys.executable, "-c", "import signal; print(signal.getsignal(2))"],
                         capture_output=True, text=True, check=True).stdout
    assert "default_int_handler" in out


def _interpreter_own_start(err: str) -> bool:
    # The one moment no program can take over: the interpreter's own initialisation,
    # after it installs its SIGINT handler and before our site hook's line runs
    # (a millisecond or two: its standard streams, site importing os, site reading the
    # .pth files). Python reports it as a fatal error of that phase (init_sys_streams,
    # init_import_site), naming no launcher and no eunomia module; a signal that came
    # while site read the .pth files is raised at the very start of the hook's line,
    # before any of it ran: "line 0" of its code, the last frame before the interrupt.
    if not err.startswith("Fatal Python error: init_") or "eunomia" in err \
            or "/bin/ecli" in err:
        return False
    if "addpackage" not in err:
        return True
    frames = [line.strip() for line in err.splitlines() if line.strip().startswith("File")]
    return bool(frames) and frames[-1] == 'File "<string>", line 0, in <module>'




@needs_root
@pytest.mark.parametrize("delay", [0.0, 0.005, 0.01, 0.02, 0.03, 0.045, 0.06, 0.08, 0.1,
                                   0.15, 0.2, 0.3, 0.4, 0.6])
def test_ctrl_c_at_any_moment_of_start_up_exits_cleanly(example_package, delay):
    """SIGINT while the interpreter starts, the command imports, parses, loads or
    attaches: the installed `ecli`, as a user runs it."""
    package = example_package("exitsnoop")
    others = loaded_program_ids(["handle_exit"])
    proc = subprocess.Popen([str(SCRIPTS / "ecli"), "run", str(package)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)       # the moment of the signal is what this test varies
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    if not _interpreter_own_start(err):
        assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
        # 130: our handler (0 once attached: a normal stop); -2: killed by SIGINT
        # before the interpreter took it over
        assert proc.returncode in (0, 130, -signal.SIGINT), (proc.returncode, err)
    wait_until(lambda: not loaded_program_ids(["handle_exit"]) - others, 10,
               what="exitsnoop's program to be gone")


def _run_python(code: str, tmp_path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], check=False, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": f"{ROOT}:{tmp_path}"})


def test_ctrl_c_inside_a_lazy_import_leaves_without_a_traceback(tmp_path):
    """The commands import lazily while they run. Python wraps an exception raised under
    a class's __set_name__ (as in a dataclass field) in a RuntimeError with a traceback,
    so a Ctrl-C inside an import leaves at once instead of raising."""
    (tmp_path / "slow_module.py").write_text(textwrap.dedent("""
        import os, signal, time

        class Field:
            def __set_name__(self, owner, name):
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)       # the handler runs in here

        class Record:
            value = Field()
        """))
    result = _run_python("""
        import signal
        from eunomia.cli.entry import _quiet
        signal.signal(signal.SIGINT, _quiet)
        import slow_module
        print("not reached")
        """, tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (130, "", "")


def test_ctrl_c_outside_imports_unwinds_so_cleanups_run(tmp_path):
    result = _run_python("""
        import os, signal, time
        from eunomia.cli.entry import _quiet
        signal.signal(signal.SIGINT, _quiet)
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        finally:
            print("cleaned up")
        """, tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (130, "cleaned up\n", "")


@pytest.mark.parametrize("name", ["ecli", "ecc", "eunomia-exporter"])
def test_each_command_tells_its_version(name):
    import eunomia
    for flag in ("--version", "-V"):
        result = subprocess.run([str(SCRIPTS / name), flag], capture_output=True, text=True,
                                timeout=60, check=False)
        assert (result.returncode, result.stdout, result.stderr) == (
            0, f"{name} {eunomia.__version__}\n", ""), flag


def test_the_wheel_carries_the_launchers_and_the_site_hook(tmp_path):
    """A user's `pip install` takes the wheel: bin/'s launchers as its scripts, and the
    site hook at the top of site-packages (setup.py puts it there)."""
    import shutil
    import zipfile
    source = tmp_path / "source"        # pip builds in the tree: a copy keeps ours clean
    for directory in ("bin", "eunomia"):
        shutil.copytree(ROOT / directory, source / directory,
                        ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(tmp_path), str(source)],
                   check=True, capture_output=True, timeout=300, cwd=tmp_path)
    (wheel,) = tmp_path.glob("eunomia-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read(SITE_HOOK) == (ROOT / "bin" / SITE_HOOK).read_bytes()
        for name in ("ecli", "ecc", "eunomia-exporter"):
            script = next(n for n in archive.namelist() if n.endswith(f".data/scripts/{name}"))
            assert archive.read(script) == (ROOT / "bin" / name).read_bytes()
