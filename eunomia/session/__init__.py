"""The run core: one package run (open -> load -> attach -> read and sample -> sinks;
stop = detach, drain, close), and the flags that configure it. Every front end (ecli run,
server tasks, the exporter) drives a Session; none keeps a loop of its own."""

from .core import (
    Abandoned,
    Session,
    SessionState,
    Sink,
    StopReport,
)
from .flags import (
    DEFAULT_QUEUE_BYTES,
    DEFAULT_STOP_BOUND,
    FlagParser,
    HelpRequested,
    RunSettings,
    parse_quietly,
    parse_run_args,
    program_parser,
)

__all__ = ["DEFAULT_QUEUE_BYTES", "DEFAULT_STOP_BOUND", "Abandoned", "FlagParser",
           "HelpRequested", "RunSettings", "Session", "SessionState", "Sink", "StopReport",
           "parse_quietly", "parse_run_args", "program_parser"]
