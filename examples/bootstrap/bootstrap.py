#!/usr/bin/env python3
"""bootstrap: libbpf-bootstrap's `bootstrap` tool, its user space on the eunomia library:
the same columns, rows and flags as the C program.

    sudo python3 examples/bootstrap/bootstrap.py           # every exec and exit
    sudo python3 examples/bootstrap/bootstrap.py -d 1000   # exits of processes that ran 1 s+
    sudo python3 examples/bootstrap/bootstrap.py -v        # with libbpf's debug output
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import _tools

# bootstrap.c's printf formats, kept as they are there
HEADER = "%-8s %-5s %-16s %-7s %-7s %s" % ("TIME", "EVENT", "COMM", "PID", "PPID",  # noqa: UP031
                                           "FILENAME/EXIT CODE")


def min_duration_ms(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"Invalid duration: {text}")
    return value


def row(ev) -> str:
    """One line, formatted as bootstrap.c's printf calls do."""
    ts = time.strftime("%H:%M:%S")
    if ev.exit_event:
        line = "%-8s %-5s %-16s %-7d %-7d [%u]" % (  # noqa: UP031
            ts, "EXIT", ev.comm, ev.pid, ev.ppid, ev.exit_code)
        if ev.duration_ns:
            line += " (%dms)" % (ev.duration_ns // 1000000)  # noqa: UP031
        return line
    return "%-8s %-5s %-16s %-7d %-7d %s" % (  # noqa: UP031
        ts, "EXEC", ev.comm, ev.pid, ev.ppid, ev.filename)


def run() -> int:
    parser = argparse.ArgumentParser(
        prog="bootstrap", usage="%(prog)s [-d <min-duration-ms>] [-v]",
        description="BPF bootstrap demo application. It traces process start and exits "
                    "and shows associated information (filename, process duration, PID "
                    "and PPID, etc).")
    parser.add_argument("-d", "--duration", type=min_duration_ms, default=0,
                        metavar="DURATION-MS", help="Minimum process duration (ms) to report")
    parser.add_argument("-v", "--verbose", action="store_true", help="Verbose debug output")
    args = parser.parse_args()
    if args.verbose:        # libbpf's own messages, debug level included
        logging.basicConfig(format="%(message)s", level=logging.DEBUG)

    package = _tools.load_package(HERE, "bootstrap")
    with package.open(min_duration_ns=args.duration * 1_000_000) as prog:
        prog.attach()
        sys.stdout.reconfigure(line_buffering=True)
        print(HEADER)
        # bootstrap.bpf.c sends no exec events once a minimum duration is set; ours
        # always does, so they are left out here and the output is the same
        shown = (lambda ev: ev.exit_event) if args.duration else (lambda ev: True)
        try:
            for ev in prog.events():
                if shown(ev):
                    print(row(ev))
        except KeyboardInterrupt:
            for ev in prog.drain():     # what was sent before Ctrl-C
                if shown(ev):
                    print(row(ev))
    return 0


if __name__ == "__main__":
    sys.exit(_tools.main_guard(run))
