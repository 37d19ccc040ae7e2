"""The console scripts' entry points: Ctrl-C at any moment, even while the command's
modules are still being imported, ends the command quietly (exit 130), never with a
KeyboardInterrupt traceback. Each command installs its own handlers once it runs.

The launchers in bin/ take Ctrl-C over on their first line, and the site hook
bin/00-eunomia-sigint.pth before the environment's other site hooks run."""

from __future__ import annotations

# _signal, not signal: the latter builds its enums (~1 ms) before the load can start
import _signal
import os
import sys


def _importing(frame) -> bool:
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def _quiet(signum, frame):
    # Inside an import (the commands import lazily; a load `ecli run FILE` started
    # meanwhile is freed by the kernel with the process) leave at once: an exception raised
    # there may surface wrapped, as Python turns one raised under a class's __set_name__
    # into a RuntimeError with a traceback. Elsewhere unwind, so cleanups run.
    if _importing(frame):
        os._exit(130)
    raise SystemExit(130)


def _run(module: str, **context) -> int:
    _signal.signal(_signal.SIGINT, _quiet)
    import importlib
    command = importlib.import_module(module)
    try:
        return command.main(**context)
    except KeyboardInterrupt:
        return 130


def ecli() -> int:
    _signal.signal(_signal.SIGINT, _quiet)
    from .early import start_early_run
    early = start_early_run(sys.argv[1:])
    if early is not None:       # `ecli run FILE`: no parser needed (cli/early.py)
        return _run("eunomia.cli.early", early=early)
    return _run("eunomia.cli.ecli")


def ecc() -> int:
    return _run("eunomia.cli.ecc")


def exporter() -> int:
    return _run("eunomia.cli.exporter")


if __name__ == "__main__":
    sys.exit(ecli())
