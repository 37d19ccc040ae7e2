"""The console scripts' entry points: Ctrl-C at any moment, even while the command's
modules are still being imported, ends the command quietly (exit 130), never with a
KeyboardInterrupt traceback. Each command installs its own handlers once it runs."""

from __future__ import annotations

import os
import signal
import sys


def _exit_now(signum, frame):
    # While modules import nothing is loaded in the kernel yet, so leaving at once is
    # safe; raising instead could surface wrapped (Python turns an exception raised
    # under a class's __set_name__ into a RuntimeError with a traceback).
    os._exit(130)


def _quiet(signum, frame):
    raise SystemExit(130)


def _run(module: str) -> int:
    signal.signal(signal.SIGINT, _exit_now)
    import importlib
    command = importlib.import_module(module)
    signal.signal(signal.SIGINT, _quiet)
    try:
        return command.main()
    except KeyboardInterrupt:
        return 130


def ecli() -> int:
    return _run("eunomia.cli.ecli")


def ecc() -> int:
    return _run("eunomia.cli.ecc")


def exporter() -> int:
    return _run("eunomia.cli.exporter")


if __name__ == "__main__":
    sys.exit(ecli())
