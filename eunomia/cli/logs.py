"""Logging for the command-line tools: warnings by default, libbpf's own log with -v.

logging itself (with traceback, linecache, tokenize: ~5 ms) is imported here only when
logging is set up at once; a run may have it set up on the first message instead
(eunomia.logs), as most runs never log a line."""

from __future__ import annotations

from ..logs import configure_on_first_use
from ..output.terminal import terminal_safe_lines


def setup_logging(verbose: bool, on_first_use: bool = False) -> None:
    """Warnings to stderr (everything with `verbose`, libbpf's messages included).
    `on_first_use`: only when the first message comes; for a command where nothing but
    eunomia's own loggers logs (no OpenTelemetry SDK, no web server), without -v."""
    if on_first_use and not verbose:
        configure_on_first_use(lambda: _configure(False))
    else:
        _configure(verbose)


def setup_run_logging(verbose: bool, words: list[str]) -> None:
    """A run's logging (`words`: its command line): on the first message, unless -v
    asks for libbpf's messages or --otlp-* for the OpenTelemetry SDK, which logs
    through logging itself and is set up before it loads."""
    setup_logging(verbose, on_first_use=not any(w.startswith("--otlp") for w in words))


def _configure(verbose: bool) -> None:
    import logging

    class TerminalSafeFormatter(logging.Formatter):
        """Warnings quote what came from outside (a runtime socket's reply, a
        kubeconfig's names, a URL): their control characters are shown escaped, never
        sent raw to the operator's terminal."""

        def formatMessage(self, record: logging.LogRecord) -> str:
            return terminal_safe_lines(super().formatMessage(record))

    # Levels first, then the handler: a load may be running in another thread.
    # libbpf explains its failures in its own words; ours are clearer, so its log shows
    # only with -v.
    logging.getLogger("eunomia.libbpf").setLevel(logging.DEBUG if verbose else logging.CRITICAL)
    # the OTLP exporter logs each failed export; ecli counts and reports them itself
    logging.getLogger("opentelemetry").setLevel(logging.DEBUG if verbose else logging.CRITICAL)
    handler = logging.StreamHandler()
    handler.setFormatter(TerminalSafeFormatter("%(name)s: %(message)s"))
    logging.basicConfig(handlers=[handler], level=logging.DEBUG if verbose else logging.WARNING)
