#!/usr/bin/env python3
"""vfsreadlat: a histogram of read latency per interval, like BCC's
examples/tracing/vfsreadlat.py.

    python3 examples/vfsreadlat/vfsreadlat.py          # every second, until Ctrl-C
    python3 examples/vfsreadlat/vfsreadlat.py 5 3      # every 5 s, 3 times
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import _tools

import eunomia


def run() -> int:
    parser = _tools.tool_parser("Summarize read latency as a histogram")
    _tools.add_interval(parser)
    parser.add_argument("-p", "--pid", type=int, default=0, help="trace this PID only")
    args = parser.parse_args()

    package = _tools.load_package(HERE, "vfsreadlat")
    autoload = _tools.choose_hooks(["kprobe_vfs_read", "kretprobe_vfs_read"],
                            ["tp_enter_read", "tp_exit_read"], args.verbose, "vfsreadlat")
    with package.open(autoload=autoload, targ_tgid=args.pid) as prog:
        prog.attach()
        dist = prog.maps["dist"]
        print("Tracing... Hit Ctrl-C to end.", flush=True)
        for _ in _tools.intervals(args.interval, args.count, _tools.Deadline(args.duration)):
            slots = [count for _, count in sorted(dist.pop_items())]
            print(flush=True)
            print(eunomia.log2_histogram(slots, unit="usecs").render(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_tools.main_guard(run))
