"""A service started as a subprocess for a test: its stderr collected, and the URL it
announces on stderr waited for (with a bound); and free loopback ports for services that
take a port rather than pick one."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import threading

from tests.kernel.conftest import wait_until


def free_ports(count: int = 1) -> list[int]:
    """`count` distinct free ports on 127.0.0.1 (all held open while they are picked)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for one in sockets:
            one.bind(("127.0.0.1", 0))
        return [one.getsockname()[1] for one in sockets]
    finally:
        for one in sockets:
            one.close()


class ServiceProcess:
    """Runs `command`; `self.url` is the first match of `announce` (one group) on stderr."""

    def __init__(self, command: list[str], announce: str, what: str, timeout: float = 60):
        self.proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._announce = re.compile(announce)
        threading.Thread(target=self._pump, daemon=True).start()
        found = wait_until(lambda: self._url() or self.proc.poll() is not None, timeout,
                           what=what)
        if found is True:
            raise AssertionError(f"{what}: exited: " + "\n".join(self.lines))
        self.url = found

    def _pump(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def _url(self) -> str | None:
        for line in list(self.lines):
            match = self._announce.search(line)
            if match:
                return match.group(1)
        return None

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)
