"""FlagParser: the argparse parser every command and program flag set uses, raising
instead of printing and exiting. Its own module, below everything, so that a command
that never runs a package (`ecli client`, `ecli push`) builds its parser without
loading the run core."""

from __future__ import annotations

import argparse

from .errors import ArgumentError, HelpRequested

__all__ = ["FlagParser", "HelpRequested"]


class FlagParser(argparse.ArgumentParser):
    """An ArgumentParser that raises instead of printing and exiting: ArgumentError for a
    bad flag, HelpRequested for --help."""

    def error(self, message: str):
        raise ArgumentError(message)

    def print_help(self, file=None):
        raise HelpRequested(self.format_help())

    def exit(self, status: int = 0, message: str | None = None):
        raise ArgumentError(message.strip() if message else f"exit {status}")
