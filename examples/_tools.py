"""What the BCC-style tools in examples/ share: building their package when the source
is newer, choosing precise kprobes or tracepoint fallbacks, and the common flags.

Tools import it as `from _tools import ...` (they put examples/ on sys.path first)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import eunomia
from eunomia import features


def load_package(tool_dir: Path, name: str) -> eunomia.Package:
    """examples/NAME/package.json, compiled first when missing or older than the source."""
    source = tool_dir / f"{name}.bpf.c"
    package = tool_dir / "package.json"
    inputs = [source, *tool_dir.glob(f"{name}.h")]
    if not package.exists() or any(p.stat().st_mtime > package.stat().st_mtime
                                   for p in inputs):
        return eunomia.compile(source)
    return eunomia.Package.load(package)


def choose_hooks(kprobe_programs: list[str], tracepoint_programs: list[str],
                 verbose: bool, tool: str) -> dict[str, bool]:
    """Autoload choices: the precise kprobes where the kernel has them, else the
    tracepoint fallbacks; says which with -v."""
    have_kprobes = features.kprobes()
    if verbose:
        how = ("kprobes" if have_kprobes else
               f"tracepoints (no kprobes here: {have_kprobes.reason})")
        print(f"{tool}: using {how}", file=sys.stderr)
    use = bool(have_kprobes)
    choice = {name: use for name in kprobe_programs}
    choice.update({name: not use for name in tracepoint_programs})
    return choice


def tool_parser(description: str, epilog: str = "") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description, epilog=epilog,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="say which kernel hooks are used, and why")
    parser.add_argument("--duration", type=positive_float, metavar="SECONDS",
                        help="stop after this many seconds (default: until Ctrl-C)")
    return parser


def add_interval(parser: argparse.ArgumentParser, default: float = 1.0) -> None:
    parser.add_argument("interval", nargs="?", type=positive_float, default=default,
                        help=f"output interval in seconds (default {default:g})")
    parser.add_argument("count", nargs="?", type=int, default=None,
                        help="number of outputs (default: unlimited)")


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"'{text}' must be greater than 0")
    return value


class Deadline:
    """--duration: how long is left (None: no limit)."""

    def __init__(self, duration: float | None):
        self.end = None if duration is None else time.monotonic() + duration

    def left(self) -> float | None:
        return None if self.end is None else max(self.end - time.monotonic(), 0.0)

    @property
    def passed(self) -> bool:
        return self.end is not None and time.monotonic() >= self.end


def events_until(prog, duration: float | None):
    """The program's decoded events until `duration` seconds pass (None: forever)."""
    deadline = Deadline(duration)
    while not deadline.passed:
        left = deadline.left()
        for event in prog.events(timeout=0.5 if left is None else min(left, 0.5)):
            yield event
            if deadline.passed:
                return


def intervals(interval: float, count: int | None, deadline: Deadline):
    """Yields once per interval (count times, or until the deadline); sleeps between."""
    done = 0
    while count is None or done < count:
        left = deadline.left()
        if left == 0:
            return
        time.sleep(interval if left is None else min(interval, left))
        yield
        done += 1


def main_guard(run) -> int:
    """Runs a tool: one line on errors (exit 1), quiet exit on Ctrl-C."""
    try:
        return run() or 0
    except eunomia.EunomiaError as exc:
        print(f"{Path(sys.argv[0]).stem}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
