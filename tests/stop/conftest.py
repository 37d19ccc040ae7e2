"""A 300,000-record burst from a C producer into a 32 MiB ring buffer, and consumers
(ecli run, a server task, an exporter program) stopped right after it."""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from tests.cli.conftest import ECLI, compile_package
from tests.kernel.conftest import needs_bpftool, needs_btf, needs_clang, needs_root, wait_until

pytestmark = [needs_root, needs_btf, needs_clang, needs_bpftool]

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PRODUCER_SOURCE = FIXTURES.parents[2] / "bench" / "producer.c"     # the bench's flood
BURST = 300_000


@pytest.fixture(scope="session")
def flood_package(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("stopflood")
    return compile_package(FIXTURES / "stopflood.bpf.c", out)


@pytest.fixture(scope="session")
def producer_binary(tmp_path_factory) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("the C producer needs gcc")
    path = tmp_path_factory.mktemp("producer") / "producer"
    subprocess.run(["gcc", "-O2", "-o", str(path), str(PRODUCER_SOURCE)],
                   check=True, timeout=120)
    return path


class Producer:
    """The C producer: started now, it calls getppid() `count` times once go() is
    called."""

    def __init__(self, binary: Path, count: int = BURST):
        self.proc = subprocess.Popen([str(binary), str(count)], stdin=subprocess.PIPE)
        self.pid = self.proc.pid

    def burst(self) -> None:
        """Sends the whole burst and waits until the producer has made every call."""
        self.proc.stdin.write(b"g")
        self.proc.stdin.close()
        assert self.proc.wait(timeout=120) == 0

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def producer(producer_binary):
    made: list[Producer] = []

    def make(count: int = BURST) -> Producer:
        made.append(Producer(producer_binary, count))
        return made[-1]
    yield make
    for each in made:
        each.kill()


class StalledConsumer:
    """`ecli run ARGS` whose stdout nobody reads until read_all(): its output stalls once
    the pipe is full, so records pile up in its queue and the ring."""

    def __init__(self, *args: str):
        self.proc = subprocess.Popen([*ECLI, "run", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.errors: list[str] = []
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()

    def _pump(self) -> None:
        for line in self.proc.stderr:
            self.errors.append(line.rstrip("\n"))

    def said(self, text: str) -> str | None:
        return next((line for line in list(self.errors) if text in line), None)

    def wait_for(self, text: str, timeout: float = 60) -> str:
        def seen():
            if self.said(text):
                return self.said(text)
            if self.proc.poll() is not None:
                raise AssertionError(f"ecli exited: {self.errors}")
            return None
        return wait_until(seen, timeout, what=f"ecli to say {text!r}")

    def read_all(self, timeout: float = 120) -> str:
        """Reads stdout to the end (ecli goes on once its output flows), waits for the
        exit and for the last stderr line."""
        out = self.proc.stdout.read()
        self.proc.wait(timeout=timeout)
        self._pump_thread.join(timeout=timeout)
        return out

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def stalled_ecli():
    made: list[StalledConsumer] = []

    def make(*args: str) -> StalledConsumer:
        made.append(StalledConsumer(*map(str, args)))
        return made[-1]
    yield make
    for each in made:
        each.kill()


def seqs_of(output: str, as_json: bool) -> list[int]:
    """The record numbers in ecli's output (JSON lines, or a table without header)."""
    import json
    lines = [line for line in output.splitlines() if line.strip()]
    if as_json:
        return [json.loads(line)["seq"] for line in lines]
    return [int(line.split()[1]) for line in lines]      # TIME SEQ PID COMM
