"""The run core: one package run (open -> load -> attach -> read and sample -> sinks;
stop = detach, drain, close), and the flags that configure it. Every front end (ecli run,
server tasks, the exporter) drives a Session; none keeps a loop of its own.

The names below load with their module on first use: `ecli run` starts the kernel's
load before it imports the run core and the output layer (and, given no flags, before
it imports the flags' parser at all), which then load while the kernel verifies
(cli/early.py, cli/run.py)."""

from ..lazy import lazy_exports

_LAZY = {"Abandoned": "core", "Session": "core", "SessionState": "core", "Sink": "core",
         "StopReport": "core",
         "DEFAULT_QUEUE_BYTES": "flags", "DEFAULT_STOP_BOUND": "settings",
         "FlagParser": "flags", "HelpRequested": "flags", "RunSettings": "settings",
         "parse_quietly": "flags", "parse_run_args": "flags", "program_parser": "flags"}


__getattr__ = lazy_exports(__name__, _LAZY)


__all__ = ["DEFAULT_QUEUE_BYTES", "DEFAULT_STOP_BOUND", "Abandoned", "FlagParser",
           "HelpRequested", "RunSettings", "Session", "SessionState", "Sink", "StopReport",
           "parse_quietly", "parse_run_args", "program_parser"]
