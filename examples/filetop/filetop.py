#!/usr/bin/env python3
"""filetop: file reads and writes by thread and file, top first, like BCC's
tools/filetop.py.

    python3 examples/filetop/filetop.py            # every second, until Ctrl-C
    python3 examples/filetop/filetop.py -C 5 10    # every 5 s, 10 times, no clearing
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import _tools

SORT_KEYS = {"all": lambda v: v.rbytes + v.wbytes, "reads": lambda v: v.reads,
             "writes": lambda v: v.writes, "rbytes": lambda v: v.rbytes,
             "wbytes": lambda v: v.wbytes}
HEADER = (f"{'TID':<7} {'COMM':<16} {'READS':<6} {'WRITES':<6} {'R_Kb':<7} {'W_Kb':<7} "
          f"T FILE")


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


def run() -> int:
    parser = _tools.tool_parser("File reads and writes by process",
                         "examples:\n  filetop.py            # file I/O top, 1 second refresh\n"
                         "  filetop.py -C         # don't clear the screen\n"
                         "  filetop.py -p 181     # PID 181 only\n"
                         "  filetop.py 5 10       # 5 second summaries, 10 times only")
    _tools.add_interval(parser)
    parser.add_argument("-a", "--all-files", action="store_true",
                        help="include non-regular file types (sockets, FIFOs, etc)")
    parser.add_argument("-C", "--noclear", action="store_true",
                        help="don't clear the screen, and keep counting across intervals")
    parser.add_argument("-r", "--maxrows", type=int, default=20,
                        help="maximum rows to print (default 20)")
    parser.add_argument("-s", "--sort", choices=sorted(SORT_KEYS), default="all",
                        help="sort column (default all: rbytes + wbytes)")
    parser.add_argument("-p", "--pid", type=int, default=0, help="trace this PID only")
    args = parser.parse_args()

    package = _tools.load_package(HERE, "filetop")
    autoload = _tools.choose_hooks(["kprobe_vfs_read", "kprobe_vfs_write"],
                            ["tp_enter_read", "tp_enter_write"], args.verbose, "filetop")
    with package.open(autoload=autoload, targ_tgid=args.pid,
                      all_files=args.all_files) as prog:
        prog.attach()
        entries = prog.maps["entries"]
        print(f"Tracing... Output every {args.interval:g} secs. Hit Ctrl-C to end",
              flush=True)
        for _ in _tools.intervals(args.interval, args.count, _tools.Deadline(args.duration)):
            rows = entries.items() if args.noclear else entries.pop_items()
            rows.sort(key=lambda kv: SORT_KEYS[args.sort](kv[1]), reverse=True)
            if not args.noclear and sys.stdout.isatty():
                os.system("clear")
            print(f"{time.strftime('%H:%M:%S')} loadavg: {loadavg()}\n")
            print(HEADER)
            for key, v in rows[:args.maxrows]:
                print(f"{key.tid:<7} {key.comm:<16.16} {v.reads:<6} {v.writes:<6} "
                      f"{v.rbytes // 1024:<7} {v.wbytes // 1024:<7} {chr(key.type)} {key.name}")
            print(flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_tools.main_guard(run))
