#!/usr/bin/env python3
"""stacksnoop: print the kernel stack each time a kernel function (or, on kernels
without kprobes, a tracepoint) fires, like BCC's stacksnoop.

    python3 examples/stacksnoop/stacksnoop.py ext4_sync_fs
    python3 examples/stacksnoop/stacksnoop.py -t sched:sched_process_exec
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import _tools

import eunomia

TRACEFS_EVENTS = Path("/sys/kernel/tracing/events")


def tracepoint_for(function: str) -> tuple[str, str] | None:
    """A tracepoint named like the function, if the kernel has one."""
    if TRACEFS_EVENTS.is_dir():
        for category in TRACEFS_EVENTS.iterdir():
            if (category / function).is_dir():
                return category.name, function
    return None


def choose_event(args) -> tuple[str, tuple[str, ...], str]:
    """(program, attach arguments, label) for the event to trace."""
    if args.tracepoint:
        category, sep, name = args.tracepoint.partition(":")
        if not sep or not category or not name:
            raise eunomia.ArgumentError(f"-t wants CATEGORY:NAME, not '{args.tracepoint}'")
        return "on_tracepoint", (category, name), f"{category}:{name}"
    kprobes = eunomia.features.kprobes()
    if kprobes:
        if args.verbose:
            print(f"stacksnoop: kprobe on {args.function}", file=sys.stderr)
        return "on_function", (args.function,), args.function
    found = tracepoint_for(args.function)
    if found is None:
        raise eunomia.NotSupportedError(
            f"no kprobes on this kernel ({kprobes.reason}) and no tracepoint named "
            f"'{args.function}': give one with -t CATEGORY:NAME")
    if args.verbose:
        print(f"stacksnoop: tracepoint {found[0]}:{found[1]} (no kprobes here: "
              f"{kprobes.reason})", file=sys.stderr)
    return "on_tracepoint", found, f"{found[0]}:{found[1]}"


def run() -> int:
    parser = _tools.tool_parser("Trace a kernel function (or tracepoint) and print its kernel "
                         "stack traces",
                         "examples:\n  stacksnoop.py ext4_sync_fs           # kprobe\n"
                         "  stacksnoop.py -s -p 185 ext4_sync_fs # offsets, PID 185\n"
                         "  stacksnoop.py -t sched:sched_process_exec")
    parser.add_argument("function", nargs="?", help="kernel function name")
    parser.add_argument("-t", "--tracepoint", metavar="CATEGORY:NAME",
                        help="trace this tracepoint instead of a function")
    parser.add_argument("-p", "--pid", type=int, default=0, help="trace this PID only")
    parser.add_argument("-s", "--offset", action="store_true",
                        help="show address offsets")
    args = parser.parse_args()
    if not args.function and not args.tracepoint:
        parser.error("give a kernel function, or -t CATEGORY:NAME")

    program, target, label = choose_event(args)
    package = _tools.load_package(HERE, "stacksnoop")
    other = "on_tracepoint" if program == "on_function" else "on_function"
    ksyms = eunomia.KernelSymbols()
    with package.open(autoload={other: False}, targ_tgid=args.pid) as prog:
        chosen = prog.programs[program]
        if program == "on_function":
            chosen.attach_kprobe(*target)
        else:
            chosen.attach_tracepoint(*target)
        stacks = prog.maps["stacks"]
        print(f"{'TIME(s)':<18} {'COMM':<12} {'PID':<6} {'CPU':<3} FUNCTION", flush=True)
        start = None
        for ev in _tools.events_until(prog, args.duration):
            start = ev.ts_ns if start is None else start
            print(f"{(ev.ts_ns - start) / 1e9:<18.9f} {ev.comm:<12.12} {ev.pid:<6} "
                  f"{ev.cpu:<3} {label}")
            if ev.stack_id < 0:
                print(f"\t[stack unavailable: error {-ev.stack_id}]")
            else:
                for address in stacks.get(ev.stack_id, []):
                    symbol = ksyms.resolve(address)
                    name = symbol.name if symbol else f"0x{address:x}"
                    if args.offset and symbol:
                        name = symbol.format()
                    print(f"\t{name}")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_tools.main_guard(run))
