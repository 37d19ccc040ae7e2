"""Logging for the command-line tools: warnings by default, libbpf's own log with -v."""

from __future__ import annotations

import logging

from ..output.terminal import terminal_safe_lines


class TerminalSafeFormatter(logging.Formatter):
    """Warnings quote what came from outside (a runtime socket's reply, a kubeconfig's
    names, a URL): their control characters are shown escaped, never sent raw to the
    operator's terminal."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return terminal_safe_lines(super().formatMessage(record))


def setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(TerminalSafeFormatter("%(name)s: %(message)s"))
    logging.basicConfig(handlers=[handler], level=logging.DEBUG if verbose else logging.WARNING)
    # libbpf explains its failures in its own words; ours are clearer, so its log shows
    # only with -v.
    logging.getLogger("eunomia.libbpf").setLevel(logging.DEBUG if verbose else logging.CRITICAL)
    # the OTLP exporter logs each failed export; ecli counts and reports them itself
    logging.getLogger("opentelemetry").setLevel(logging.DEBUG if verbose else logging.CRITICAL)
