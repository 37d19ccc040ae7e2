#!/usr/bin/env python3
"""pidpersec: new processes per second, like BCC's tools/pidpersec.py.

    python3 examples/pidpersec/pidpersec.py          # every second, until Ctrl-C
    python3 examples/pidpersec/pidpersec.py 5 3      # every 5 s, 3 times
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import _tools


def run() -> int:
    parser = _tools.tool_parser("Count new processes (via fork) per interval")
    _tools.add_interval(parser)
    args = parser.parse_args()

    package = _tools.load_package(HERE, "pidpersec")
    autoload = _tools.choose_hooks(["kprobe_sched_fork"], ["tp_sched_process_fork"],
                            args.verbose, "pidpersec")
    with package.open(autoload=autoload) as prog:
        prog.attach()
        stats = prog.maps["stats"]
        print("Tracing... Ctrl-C to end.", flush=True)
        last = 0
        for _ in _tools.intervals(args.interval, args.count, _tools.Deadline(args.duration)):
            # the difference of a running total: a reset after the read (BCC's way) would
            # lose the forks counted between the two
            total = stats[0]
            forks, last = total - last, total
            per_second = forks / args.interval
            print(f"{time.strftime('%H:%M:%S')}: PIDs/sec: {per_second:g}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_tools.main_guard(run))
