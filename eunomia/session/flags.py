"""A package's global variables as command-line flags (`ecli run pkg.json --targ_pid 42`).

Long name: `cmdarg.long` or the variable's name; short: `cmdarg.short`; help: `cmdarg.help`,
else the doc comment, else the C type. A flag that is not given keeps the value compiled
into the object (or `cmdarg.default` when the source asks for one).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..errors import ArgumentError, DecodeError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class FlagParser(argparse.ArgumentParser):
    """An ArgumentParser that raises ArgumentError instead of printing and exiting 2."""

    def error(self, message: str):
        raise ArgumentError(message)


def parse_quietly(parser: argparse.ArgumentParser, args: list[str]) -> argparse.Namespace:
    """parse_args for services (the server, the exporter): --help, -h or a prefix of
    them is an error here, not text on the service's stdout and an exit."""
    import contextlib
    import io
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return parser.parse_args(args)
    except SystemExit:
        raise ArgumentError("--help is not available here: give the program's flags "
                            "only") from None


def _converter(var):
    """Turns flag text into a value the variable's codec accepts, checking it fully."""
    def convert(text: str) -> Any:
        if var.kind == "bool":
            lowered = text.lower()
            if lowered not in _TRUE | _FALSE:
                raise argparse.ArgumentTypeError(f"expected true or false, not '{text}'")
            value: Any = lowered in _TRUE
        elif var.kind == "int":
            try:
                value = int(text, 0)
            except ValueError:
                if not (var.size == 1 and "char" in var.c_type and len(text) == 1):
                    raise argparse.ArgumentTypeError(
                        f"expected an integer, not '{text}'") from None
                value = text    # a char given as one character

        elif var.kind == "float":
            try:
                value = float(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"expected a number, not '{text}'") from None
        elif var.kind == "enum":
            try:
                value = int(text, 0)
            except ValueError:
                value = text
        elif var.kind == "string":
            value = text
        else:
            try:
                value = json.loads(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"expected a JSON value, not '{text}'") from None
        try:
            var.codec.encode(value)
        except DecodeError as exc:
            raise argparse.ArgumentTypeError(f"{exc} ({var.c_type})") from None
        return value
    return convert


def _shown(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (str, list, dict)) else str(value)


def add_program_flags(parser: argparse.ArgumentParser, variables) -> dict[str, str]:
    """Adds a flag per variable; returns {argparse dest: variable name}."""
    dests = {}
    group = parser.add_argument_group("program flags (from the package's global variables)")
    for var in variables:
        cmdarg = var.cmdarg
        long_name = (getattr(cmdarg, "long", None) or var.name)
        names = [f"--{long_name}"]
        short = getattr(cmdarg, "short", None)
        if short:
            names.insert(0, f"-{short}")
        help_text = (getattr(cmdarg, "help", None) or var.description or "").strip()
        default = getattr(cmdarg, "default", None)
        shown_default = default if default is not None else var.compiled_value
        details = f"{var.c_type}, default {_shown(shown_default)}"
        help_text = f"{help_text} ({details})" if help_text else details
        dest = f"var_{var.name}"
        dests[dest] = var.name
        if var.kind == "bool":
            group.add_argument(*names, dest=dest, nargs="?", const=True, default=default,
                               type=_converter(var), metavar="BOOL",
                               help=help_text + "; a bare flag means true")
        else:
            metavar = {"int": "N", "float": "X", "string": "TEXT", "enum": "NAME"}.get(
                var.kind, "JSON")
            group.add_argument(*names, dest=dest, default=default, type=_converter(var),
                               metavar=metavar, help=help_text)
    return dests


def chosen_values(namespace: argparse.Namespace, dests: dict[str, str]) -> dict[str, Any]:
    """The values the user gave (or the source's defaults), by variable name."""
    values = {}
    for dest, name in dests.items():
        value = getattr(namespace, dest)
        if value is not None:
            values[name] = value
    return values
