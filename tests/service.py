"""A service started as a subprocess for a test: its stderr collected, and the URL it
announces on stderr waited for (with a bound)."""

from __future__ import annotations

import re
import signal
import subprocess
import threading

from tests.kernel.conftest import wait_until


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
