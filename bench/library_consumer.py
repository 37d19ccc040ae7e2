"""bench: the library's events() iterator as a consumer; at the end prints the count and
the CLOCK_MONOTONIC time of the last event (the runner compares it with its start)."""

import signal
import sys
import time

import eunomia

stop = False


def on_signal(signum, frame):
    global stop
    stop = True


signal.signal(signal.SIGINT, on_signal)
signal.signal(signal.SIGTERM, on_signal)
count = 0
last = 0.0
with eunomia.Package.load(sys.argv[1]).open(targ_tgid=int(sys.argv[2])) as prog:
    prog.attach()
    print("attached", file=sys.stderr, flush=True)
    while not stop:
        for _ in prog.events(timeout=0.1):
            count += 1
            last = time.monotonic()
print(count, last)
