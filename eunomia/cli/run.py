"""`ecli run`: load a package, attach it, print its events and sampled maps until stopped."""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import sys
import time

from ..attach_plan import AttachOptions
from ..errors import ArgumentError, EunomiaError
from ..loaded import LoadedPackage
from ..output.records import JsonFormatter, TableFormatter
from ..package import Package
from ..sampling import key_label
from ..variables import global_variables
from .program_flags import FlagParser, add_program_flags, chosen_values

TRACE_PIPE = "/sys/kernel/tracing/trace_pipe"


def add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-j", "--json", action="store_true",
                        help="print one JSON object per event instead of a table")
    parser.add_argument("--duration", type=float, metavar="SEC",
                        help="stop after SEC seconds (default: run until Ctrl-C)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show libbpf's log and the whole verifier log on errors")
    parser.add_argument("--trace", action="store_true",
                        help=f"also follow bpf_printk output ({TRACE_PIPE})")
    parser.add_argument("--no-header", action="store_true", help="omit the table header")
    hooks = parser.add_argument_group("where to attach (overrides the package's annotations)")
    hooks.add_argument("--ifname", metavar="IF", help="interface for XDP and tc programs "
                       "(default: lo)")
    hooks.add_argument("--pid", type=int, metavar="PID", help="process for uprobes "
                       "(default: every process)")
    hooks.add_argument("--binary", metavar="PATH", help="binary for uprobes that name none")
    hooks.add_argument("--sample-freq", type=int, metavar="HZ",
                       help="frequency of perf_event programs (default: 49)")


def attach_options(args: argparse.Namespace) -> AttachOptions:
    """The run options of program_parser's namespace that say where programs attach."""
    return AttachOptions(ifname=args.ifname, pid=args.pid, binary=args.binary,
                         sample_freq=args.sample_freq)


def program_parser(package) -> tuple[FlagParser, dict[str, str]]:
    """The parser for `ecli run PACKAGE ...`: run options plus the package's own flags."""
    doc = package.meta.bpf_skel.doc
    name = package.meta.bpf_skel.obj_name or "program"
    description = (getattr(doc, "brief", None) or getattr(doc, "description", None)
                   or f"the eBPF program '{name}'")
    epilog_parts = [getattr(doc, "details", None) or ""]
    if getattr(doc, "version", None):
        epilog_parts.append(f"version {doc.version}")
    parser = FlagParser(prog=f"ecli run {name}", description=description,
                        epilog="\n\n".join(p for p in epilog_parts if p) or None,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(parser)
    dests = add_program_flags(parser, global_variables(package))
    return parser, dests


class Stop:
    """Set by SIGINT/SIGTERM; the loop notices within one poll interval."""

    def __init__(self):
        self.requested = False

    def __call__(self, signum, frame):
        self.requested = True


def _warn(message: str) -> None:
    print(f"ecli: {message}", file=sys.stderr, flush=True)


class Printer:
    """Turns records and samples into text on stdout, a batch at a time."""

    def __init__(self, as_json: bool, header: bool):
        self.as_json = as_json
        self.header = header
        self._formatters = {}
        self._last_type = None

    def records(self, source, raws, now: float) -> list[str]:
        formatter = self._formatters.get(source.map_name)
        if formatter is None:
            formatter = (JsonFormatter(source.codec) if self.as_json
                         else TableFormatter(source.codec))
            self._formatters[source.map_name] = formatter
        lines = []
        if not self.as_json and self.header and self._last_type != source.type_name:
            lines.append(formatter.header)
        self._last_type = source.type_name
        lines.extend(formatter.rows(raws, now))
        return lines

    def sample(self, sampler, now: float) -> list[str]:
        entries = sampler.read()
        stamp = time.strftime("%H:%M:%S", time.localtime(now))
        lines = []
        if sampler.spec.kind in ("log2_hist", "linear_hist"):
            histograms = sampler.histograms(entries)
            if self.as_json:
                for key, hist in histograms:
                    lines.append(json.dumps({"time": stamp, "map": sampler.name,
                                             "key": sampler.key_codec.to_json(key),
                                             "histogram": hist.to_dict()}))
                return lines
            lines.append(f"{stamp} {sampler.name}")
            for key, hist in histograms:
                # A struct key always names its section, as BCC's section headers do.
                if len(histograms) > 1 or isinstance(key, dict):
                    lines.append(key_label(key))
                lines.append(hist.render())
            return lines
        for key, value in entries:
            key_json = sampler.key_codec.to_json(key)
            value_json = sampler.value_codec.to_json(value)
            if self.as_json:
                lines.append(json.dumps({"time": stamp, "map": sampler.name,
                                         "key": key_json, "value": value_json}))
            else:
                lines.append(f"{stamp} {sampler.name} {json.dumps(key_json)} -> "
                             f"{json.dumps(value_json)}")
        return lines


def _open_trace_pipe():
    try:
        return os.open(TRACE_PIPE, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise EunomiaError(f"cannot read {TRACE_PIPE}: {exc.strerror} (is tracefs mounted? "
                           "mount -t tracefs nodev /sys/kernel/tracing)") from None


def _read_trace(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def report_losses(sources, warn=None) -> None:
    """Reports new perf-buffer losses and nearly full ring buffers (each once) through
    `warn` (default: ecli's stderr)."""
    warn = warn or _warn
    for source in sources:
        lost = source.lost
        if lost > source.lost_reported:
            warn(f"lost {lost - source.lost_reported} events from map '{source.map_name}' "
                  f"({lost} in all): the consumer fell behind")
            source.lost_reported = lost
        fill = getattr(source.reader, "fill_ratio", 0.0)
        if fill >= 0.9 and not source.warned_full:
            warn(f"ring buffer '{source.map_name}' was {fill:.0%} full: the kernel side "
                  "drops events when it is full (make the map larger)")
            source.warned_full = True


def run_package(package, argv: list[str], out=None) -> int:
    """Parses the program's flags from `argv`, then runs the package until stopped."""
    out = out or sys.stdout
    parser, dests = program_parser(package)
    args = parser.parse_args(argv)
    if args.duration is not None and args.duration < 0:
        raise ArgumentError("--duration must not be negative")
    values = chosen_values(args, dests)
    stop = Stop()
    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    trace_fd = None
    try:
        with LoadedPackage.open(package, values) as loaded:
            loaded.attach(options=attach_options(args))
            sources = loaded.event_sources()
            if sources:
                loaded.drain_in_background()    # bursts queue up instead of overflowing
            samplers = loaded.samplers()
            name = package.meta.bpf_skel.obj_name or "program"
            _warn(f"attached {len(loaded.links)} program(s) of '{name}'; "
                  "press Ctrl-C to stop")
            if not sources and not samplers and not args.trace:
                _warn(f"'{name}' sends no events or sampled maps to user space; what it "
                      f"prints with bpf_printk goes to {TRACE_PIPE} (add --trace to follow "
                      "it here)")
            if args.trace:
                trace_fd = _open_trace_pipe()
            _loop(loaded, sources, samplers, args, stop, trace_fd, out)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if trace_fd is not None:
            os.close(trace_fd)
    return 0


def _loop(loaded, sources, samplers, args, stop, trace_fd, out) -> None:
    printer = Printer(args.json, header=not args.no_header
                      and loaded.package.meta.print_header is not False)
    poll_s = max(int(loaded.package.meta.poll_timeout_ms or 100), 1) / 1000.0
    start = time.monotonic()
    deadline = start + args.duration if args.duration is not None else None
    next_sample = {s.name: start + s.spec.interval for s in samplers}
    while not stop.requested:
        now = time.monotonic()
        wait = poll_s
        if next_sample:
            wait = min(wait, max(0.0, min(next_sample.values()) - now))
        if deadline is not None:
            wait = min(wait, max(0.0, deadline - now))
        lines: list[str] = []
        wall = time.time()
        if sources:
            for source, raws in loaded.read_raw(wait):
                lines.extend(printer.records(source, raws, wall))
            report_losses(sources)
        elif trace_fd is not None:
            select.select([trace_fd], [], [], wait)
        elif wait > 0:
            time.sleep(wait)
        if trace_fd is not None:
            text = _read_trace(trace_fd)
            if text:
                lines.append(text.rstrip("\n"))
        now = time.monotonic()
        for sampler in samplers:
            if now >= next_sample[sampler.name]:
                lines.extend(printer.sample(sampler, time.time()))
                next_sample[sampler.name] = now + sampler.spec.interval
        if lines:
            out.write("\n".join(lines) + "\n")
            out.flush()
        if deadline is not None and now >= deadline:
            break


def load_package_argument(source: str):
    return Package.load(source)
