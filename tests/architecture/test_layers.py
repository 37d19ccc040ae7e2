"""The layers of pyproject.toml's import-linter contract hold, and the contract is live:
a library module that imports the command line breaks it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_CODE = ("import sys; from importlinter.cli import lint_imports_command; "
             "sys.exit(lint_imports_command())")
LINT = [sys.executable, "-c", LINT_CODE]

pytest.importorskip("importlinter")


def lint(root: Path) -> subprocess.CompletedProcess:
    """lint-imports over the eunomia package found under `root`."""
    return subprocess.run([*LINT, "--config", str(root / "pyproject.toml"), "--no-cache"],
                          cwd=root, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120, check=False)


def copy_of_tree(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "eunomia", tmp_path / "eunomia",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_layer_contract_is_kept():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_library_module_importing_the_cli_breaks_it(tmp_path):
    tree = copy_of_tree(tmp_path)
    loaded = tree / "eunomia" / "loaded" / "live.py"
    loaded.write_text(loaded.read_text() + "\nfrom ..cli import run as _cli_run  # noqa\n")
    result = lint(tree)
    assert result.returncode != 0
    assert "the library never imports the command line BROKEN" in result.stdout
    assert "eunomia.loaded.live -> eunomia.cli" in result.stdout


def test_the_decode_cycle_stays_gone(tmp_path):
    tree = copy_of_tree(tmp_path)
    codecs = tree / "eunomia" / "decode" / "codecs.py"
    codecs.write_text(codecs.read_text() + "\nfrom .generate import struct_decoder  # noqa\n")
    result = lint(tree)
    assert result.returncode != 0
    assert "no cycle) BROKEN" in result.stdout


def test_every_library_exception_is_a_eunomia_error_or_flow_control():
    """Every exception class the library defines derives from EunomiaError, except the
    signals that end a step on purpose, which derive from FlowControl and never from
    EunomiaError (an `except EunomiaError` must not swallow a --help or a Ctrl-C's
    abandon). Private control-flow ones, named with a leading underscore, aside."""
    import importlib
    import inspect
    import pkgutil

    import eunomia
    from eunomia.errors import EunomiaError, FlowControl

    strays, signals = [], []
    for info in pkgutil.walk_packages(eunomia.__path__, "eunomia."):
        if info.name.startswith("eunomia.cli"):
            continue
        try:
            module = importlib.import_module(info.name)
        except ImportError:
            continue        # an optional extra (e.g. the exporter's) not installed
        for name, value in vars(module).items():
            if (inspect.isclass(value) and issubclass(value, BaseException)
                    and value.__module__ == module.__name__ and not name.startswith("_")):
                if issubclass(value, FlowControl):
                    assert not issubclass(value, EunomiaError), name
                    signals.append(name)
                elif not issubclass(value, EunomiaError):
                    strays.append(f"{module.__name__}.{name}")
    assert strays == []
    assert sorted(signals) == ["Abandoned", "Drop", "FlowControl", "HelpRequested"]
    from eunomia.errors import ArgumentError
    from eunomia.server.tasks import TaskLimitError
    assert not issubclass(TaskLimitError, ArgumentError)     # a 429, not a bad request


def _loaded_after(imports: str, wanted: set[str]) -> set[str]:
    """Which of the modules `wanted` a fresh interpreter holds after `import <imports>`."""
    import subprocess
    import sys
    code = (f"import sys, {imports}; "
            f"print(' '.join(sorted(set(sys.modules) & set({sorted(wanted)!r}))))")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=60, check=True, cwd=ROOT)
    return set(shown.stdout.split())


def test_ecli_run_and_the_library_import_no_web_stack():
    """`ecli run`'s modules (the command line, the run core, the library) never import
    pydantic, FastAPI or the OpenTelemetry SDK: a standalone tool (a zipapp) carries none
    of them, and importing pydantic alone costs more start-up than the rest of ecli."""
    assert _loaded_after("eunomia.cli.ecli, eunomia.cli.run, eunomia.session, eunomia.loaded,"
                         " eunomia.package, eunomia.output.settings",
                         {"pydantic", "pydantic_core", "fastapi", "starlette",
                          "opentelemetry"}) == set()


def test_ecli_run_file_loads_before_argparse_and_logging_and_never_builds_a_parser():
    """`ecli run FILE` with nothing else (cli/early.py) reads the package and starts the
    kernel's load with the package, the open and libbpf's binding only: neither argparse,
    logging, the command line's parsers, the globals' BTF reader nor the output layer.
    The run after it never imports the flags' parser, nor logging until something logs
    (eunomia.logs), nor socket until a container runtime is asked (#29)."""
    before_the_load = _loaded_after(
        "eunomia.cli.entry, eunomia.cli.early, eunomia.package, eunomia.loaded.opened, "
        "eunomia.runtime.object",
        {"argparse", "logging", "signal", "eunomia.flagparser", "eunomia.cli.ecli",
         "eunomia.session.flags", "eunomia.variables", "eunomia.output.settings",
         "eunomia.session.core", "eunomia.loaded.live"})
    assert before_the_load == set()
    assert _loaded_after("eunomia.cli.early, eunomia.cli.guard, eunomia.cli.logs, "
                         "eunomia.cli.run, "
                         "eunomia.session.settings, eunomia.session.core, "
                         "eunomia.cli.running, eunomia.loaded.live, eunomia.output.lines, "
                         "eunomia.containers.live",
                         {"argparse", "logging", "socket", "eunomia.flagparser",
                          "eunomia.session.flags", "eunomia.cli.ecli"}) == set()


def test_ecli_run_starts_the_load_before_the_output_layer_and_without_dataclasses():
    """What `ecli run` imports before it starts the kernel's load (cli/run.py: its flags,
    the package, the open): neither the output layer, the run core nor the event
    readers, which load while the kernel verifies; and never dataclasses (with inspect,
    ast and dis: a third of the start-up it once had, #29)."""
    before_the_load = _loaded_after(
        "eunomia.cli.ecli, eunomia.cli.run, eunomia.cli.wasm, eunomia.loaded.opened, "
        "eunomia.session.flags, eunomia.package, eunomia.output.settings, "
        "eunomia.runtime.object",
        {"dataclasses", "inspect", "eunomia.output.lines", "eunomia.output.records",
         "eunomia.session.core", "eunomia.events", "eunomia.loaded.live",
         "eunomia.runtime.ringbuf", "eunomia.runtime.perfbuf"})
    assert before_the_load == set()
    assert _loaded_after("eunomia.cli.ecli, eunomia.cli.run, eunomia.session.core, "
                         "eunomia.cli.running, eunomia.loaded.live",
                         {"dataclasses", "inspect"}) == set()
