"""`ecli run`: a Session whose sink is stdout, stopped by a signal or --duration.

The first SIGINT, SIGTERM or SIGHUP stops the run: the programs are detached and every
record already sent is written before exit. A second signal, or the session's stop bound,
abandons what is left and says how many records that was.
"""

from __future__ import annotations

import os
import select
import signal
import stat
import sys
from pathlib import Path

from ..errors import ArgumentError
from ..kinds import TRACE_PIPE
from ..output.lines import LinePrinter
from ..package import Package
from ..session import Abandoned, Session, Sink, parse_run_args
from ..session.flags import add_run_options

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

__all__ = ["add_run_options", "load_package_argument", "run_package"]


def warn(message: str) -> None:
    print(f"ecli: {message}", file=sys.stderr, flush=True)


class FdWriter:
    """Text written straight to a file descriptor, every byte accounted for, and a write
    that blocks on a stalled reader (a pipe, a terminal) given up when `give_up()` says
    so, with Abandoned saying how many whole lines went out. (io's buffered writer can
    also lose the rest of a large write to a pipe when a signal arrives meanwhile.)"""

    def __init__(self, fd: int, give_up=lambda: False):
        self.fd = fd
        self.give_up = give_up
        self._waits = not stat.S_ISREG(os.fstat(fd).st_mode)

    def write(self, text: str) -> None:
        data = memoryview(text.encode("utf-8", "replace"))
        done = 0
        while done < len(data):
            if self._waits:
                if self.give_up():
                    raise Abandoned(delivered=data[:done].tobytes().count(b"\n"))
                if not select.select([], [self.fd], [], 0.1)[1]:
                    continue
                # once writable, PIPE_BUF bytes go out without blocking
                done += os.write(self.fd, data[done:done + select.PIPE_BUF])
            else:
                done += os.write(self.fd, data[done:])

    def flush(self) -> None:
        pass


class StreamSink(Sink):
    """Records, samples and trace lines as text on a stream; warnings on stderr."""

    def __init__(self, out, printer: LinePrinter):
        self.out = out
        self.printer = printer

    def _lines(self, lines: list[str]) -> None:
        if lines:
            self.out.write("\n".join(lines) + "\n")

    def records(self, source, raws, now: float) -> None:
        lines = self.printer.records(source, raws, now)
        try:
            self._lines(lines)
        except Abandoned as exc:    # a header line is not a record
            exc.delivered = max(0, exc.delivered - (len(lines) - len(raws)))
            raise

    def sample(self, sampler, entries, now: float) -> None:
        self._lines(self.printer.sample(sampler, entries, now))

    def trace(self, text: str) -> None:
        self._lines([text])

    def warning(self, text: str) -> None:
        warn(text)

    def flush(self) -> None:
        self.out.flush()



class StopSignals:
    """SIGINT/SIGTERM/SIGHUP stop the session; a second one abandons the records left."""

    def __init__(self, session: Session):
        self.session = session
        self.count = 0
        self._previous: dict = {}

    def __call__(self, signum, frame) -> None:
        self.count += 1
        if self.count > 1:
            self.session.abandon()
            return
        self.session.request_stop()
        backlog = self.session.backlog
        if backlog:
            # os.write: the handler may run while stderr's own buffer is in use
            os.write(2, f"ecli: stopping: writing the {backlog} records left (Ctrl-C "
                        "again abandons them)\n".encode())

    def __enter__(self):
        for sig in STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, self)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def run_package(package, argv: list[str], out=None, prog: str | None = None) -> int:
    """Parses the program's flags from `argv`, then runs the package until stopped.
    Exit code 0, or 1 when records were left unwritten at the stop. `prog` names the
    command in the help (a standalone tool's own name)."""
    settings = parse_run_args(package, argv, prog=prog)
    printer = settings.printer(package)
    writer = out
    if writer is None:
        sys.stdout.flush()
        writer = FdWriter(sys.stdout.fileno())
    sink = StreamSink(writer, printer)
    session = Session(package, settings, sink)
    if isinstance(writer, FdWriter):
        writer.give_up = session.gave_up
    with StopSignals(session):
        session.start()
        printer.stack_lookup = session.stack_lookup
        warn(f"attached {session.attached} program(s) of '{session.name}'; press Ctrl-C "
             "to stop")
        if not session.sources and not session.samplers and not settings.trace:
            warn(f"'{session.name}' sends no events or sampled maps to user space; what it "
                 f"prints with bpf_printk goes to {TRACE_PIPE} (add --trace to follow it "
                 "here)")
        report = session.run()
    return 1 if report.unwritten else 0


def path_exists(name: str) -> bool:
    """Path.exists() that answers False for a name the system refuses (too long, a loop
    of links) instead of raising."""
    try:
        return Path(name).exists()
    except (OSError, ValueError):
        return False


def load_package_argument(source: str, kind: str | None = None, registry_options=None,
                          pull: str = "missing", verify_key: str | None = None):
    """The package `ecli run` names: a file, URL or stdin, or an image pulled with the
    run's registry options (`registry_options()` makes them, so that -i asks only for
    an image) and checked with --verify-key."""
    local = source == "-" or path_exists(source)
    if not local:
        from ..oci import looks_like_reference  # loaded only for what may be an image
        local = not looks_like_reference(source)
    if local:
        if verify_key:
            raise ArgumentError("--verify-key checks images (HOST/NAME:TAG); "
                                f"{source} is not one")
        return Package.load(source, kind)
    from ..oci import fetch_package
    from ..oci.signing import load_public_key
    key = load_public_key(verify_key) if verify_key else None
    image = fetch_package(source, registry_options() if registry_options else None,
                          pull, key)
    return Package.load(image.content, kind or image.kind)
