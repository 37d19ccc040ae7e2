"""The entry point of a tool written by `ecc --standalone`: `./TOOL [flags]` is
`ecli run package.json [flags]`, with the tool's name in its help and errors."""

from __future__ import annotations

import sys

from ..package import Package
from .guard import run_guarded
from .logs import setup_run_logging
from .run import run_package


def run(package_json: bytes, name: str) -> int:
    argv = sys.argv[1:]
    verbose = "-v" in argv or "--verbose" in argv
    setup_run_logging(verbose, argv)
    return run_guarded(lambda: run_package(Package.load(package_json), argv, prog=name),
                       verbose, name)
