"""The exporter: every configured program running, and their metrics collected on demand
(a Prometheus scrape, an OTLP push)."""

from __future__ import annotations

import threading

from ..errors import EunomiaError
from ..runtime.features import RunTimeStats
from .config import ConfigError, ProgramConfig, check_unique_metrics
from .metrics import SelfCounters, Snapshot
from .program import RunningProgram


class UnknownProgramError(EunomiaError, LookupError):
    """No running program has this id."""


class Exporter:
    """Runs programs and collects their metrics. `bpf_stats` turns on the kernel's BPF
    run-time statistics (run count and time per BPF program) while the exporter runs."""

    def __init__(self, bpf_stats: bool = False):
        self.counters = SelfCounters()
        self._programs: dict[int, RunningProgram] = {}
        self._next_id = 1
        self._starting: dict[int, ProgramConfig] = {}
        self._lock = threading.Lock()
        self._stats = RunTimeStats() if bpf_stats else None

    def start_all(self, programs: list[ProgramConfig]) -> list[int]:
        """Starts every program, or none: on a failure the ones started are stopped."""
        started = []
        try:
            for program in programs:
                started.append(self.start(program))
        except BaseException:
            for program_id in started:
                self.stop(program_id)
            raise
        return started

    def start_times(self) -> list[tuple[str, float]]:
        """(program name, seconds its open, load and attach took) of each running one."""
        with self._lock:
            return [(p.name, p.start_seconds) for p in self._programs.values()]

    def start(self, config: ProgramConfig) -> int:
        with self._lock:        # names are reserved before the slow load
            configs = [p.config for p in self._programs.values()] + list(
                self._starting.values())
            check_unique_metrics([*configs, config], "the running exporter")
            program_id, self._next_id = self._next_id, self._next_id + 1
            self._starting[program_id] = config
        try:
            program = RunningProgram(program_id, config, self.counters)
        finally:
            with self._lock:
                del self._starting[program_id]
        with self._lock:
            self._programs[program_id] = program
        return program_id

    def stop(self, program_id) -> dict:
        with self._lock:
            known = isinstance(program_id, int) and not isinstance(program_id, bool)
            program = self._programs.pop(program_id, None) if known else None
        if program is None:
            raise UnknownProgramError(f"no program with id {program_id!r}")
        program.stop()
        return {"id": program_id, "name": program.name}

    def list(self) -> list[dict]:
        with self._lock:
            programs = list(self._programs.values())
        return [{"id": p.id, "name": p.name,
                 "metrics": [m.name for m in p.config.metrics]} for p in programs]

    def snapshots(self) -> list[Snapshot]:
        with self._lock:
            programs = list(self._programs.values())
        result = []
        for program in programs:
            result.extend(program.snapshots())
        result.extend(self.counters.snapshots())
        if self._stats is not None:
            result.extend(_bpf_stats(programs))
        return result

    def close(self) -> None:
        for program_id in [p["id"] for p in self.list()]:
            try:
                self.stop(program_id)
            except EunomiaError:
                pass        # the rest must still stop
        if self._stats is not None:
            self._stats.close()


def _bpf_stats(programs: list[RunningProgram]) -> list[Snapshot]:
    labels = ("program", "bpf_program")
    runs = Snapshot("counter", "eunomia_bpf_program_runs", "times each BPF program ran "
                    "(kernel bpf stats)", labels)
    seconds = Snapshot("counter", "eunomia_bpf_program_run_seconds", "time each BPF "
                       "program ran (kernel bpf stats)", labels)
    for program in programs:
        for name, info in program.bpf_stats():
            runs.series.append(((program.name, name), info["run_cnt"]))
            seconds.series.append(((program.name, name), info["run_time_ns"] / 1e9))
    return [runs, seconds]


__all__ = ["ConfigError", "Exporter", "UnknownProgramError"]
