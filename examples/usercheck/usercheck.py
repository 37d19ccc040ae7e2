#!/usr/bin/env python3
"""usercheck: greet users as they run programs. User space writes a greeting per uid
into a hash map; the kernel reads it on every exec and sends it back with the process.

    python3 examples/usercheck/usercheck.py --greet 0="hello root" --greet 1000=hi
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import _tools

GREETING_LEN = 32
HEADER = f"{'TIME':<9} {'PID':<7} {'UID':<6} {'COMM':<16} GREETING"


def greeting(text: str) -> tuple[int, str]:
    uid, sep, words = text.partition("=")
    if not sep or not uid.isdigit():
        raise argparse.ArgumentTypeError(f"'{text}' is not UID=GREETING")
    if len(words.encode()) >= GREETING_LEN:
        raise argparse.ArgumentTypeError(f"greeting '{words}' is longer than "
                                         f"{GREETING_LEN - 1} bytes")
    return int(uid), words


def run() -> int:
    parser = _tools.tool_parser("Greet users on every exec, from greetings written into a map",
                         "examples:\n  usercheck.py --greet 0='hello root' --greet 1000=hi")
    parser.add_argument("--greet", type=greeting, action="append", required=True,
                        metavar="UID=TEXT", help="greeting for a uid (repeatable)")
    args = parser.parse_args()

    package = _tools.load_package(HERE, "usercheck")
    with package.open() as prog:
        greetings = prog.maps["greetings"]
        greetings.update({uid: {"text": text} for uid, text in args.greet})
        prog.attach()
        print(HEADER, flush=True)
        for ev in _tools.events_until(prog, args.duration):
            print(f"{time.strftime('%H:%M:%S'):<9} {ev.pid:<7} {ev.uid:<6} "
                  f"{ev.comm:<16} {ev.greeting}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_tools.main_guard(run))
