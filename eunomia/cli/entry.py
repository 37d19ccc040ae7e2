"""The console scripts' entry points: Ctrl-C at any moment, even while the command's
modules are still being imported, ends the command quietly (exit 130), never with a
KeyboardInterrupt traceback. Each command installs its own handlers once it runs."""

from __future__ import annotations

import signal
import sys


def _quiet(signum, frame):
    raise SystemExit(130)


def _run(module: str) -> int:
    signal.signal(signal.SIGINT, _quiet)
    try:
        import importlib
        return importlib.import_module(module).main()
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
