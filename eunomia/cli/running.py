"""What `ecli run` needs once the kernel's load is under way (cli/run.py imports it then):
its sink, records as text written to a file descriptor, and its stop signals."""

from __future__ import annotations

import os
import select
import signal
import stat

from ..output.lines import LinePrinter
from ..session.core import Abandoned, Session, Sink
from .run import STOP_SIGNALS, warn


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
