#!/usr/bin/env python3
"""killsnoop: trace signals sent with kill(), like BCC's tools/killsnoop.py.

    python3 examples/killsnoop/killsnoop.py            # every kill()
    python3 examples/killsnoop/killsnoop.py -x -s 9    # failed SIGKILLs only
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import _tools

HEADER = f"{'TIME':<9} {'PID':<7} {'COMM':<16} {'SIG':<4} {'TPID':<7} RESULT"


def run() -> int:
    parser = _tools.tool_parser("Trace signals issued by the kill() syscall",
                         "examples:\n  killsnoop.py -p 181    # only kills by PID 181\n"
                         "  killsnoop.py -x        # only failed kills\n"
                         "  killsnoop.py -s 9      # only SIGKILL")
    parser.add_argument("-x", "--failed", action="store_true", help="only show failed kill syscalls")
    parser.add_argument("-p", "--pid", type=int, default=0, help="trace this PID only")
    parser.add_argument("-s", "--signal", type=int, default=0, help="trace this signal only")
    args = parser.parse_args()

    package = _tools.load_package(HERE, "killsnoop")
    autoload = _tools.choose_hooks(["kill_entry", "kill_exit"], ["tp_kill_entry", "tp_kill_exit"],
                            args.verbose, "killsnoop")
    with package.open(autoload=autoload, targ_pid=args.pid, targ_sig=args.signal,
                      failed_only=args.failed) as prog:
        prog.attach()
        print(HEADER, flush=True)
        for ev in _tools.events_until(prog, args.duration):
            print(f"{time.strftime('%H:%M:%S'):<9} {ev.pid:<7} {ev.comm:<16} "
                  f"{ev.sig:<4} {ev.tpid:<7} {ev.ret}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_tools.main_guard(run))
