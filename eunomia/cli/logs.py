"""Logging for the command-line tools: warnings by default, libbpf's own log with -v."""

from __future__ import annotations

import logging


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(format="%(name)s: %(message)s",
                        level=logging.DEBUG if verbose else logging.WARNING)
    # libbpf explains its failures in its own words; ours are clearer, so its log shows
    # only with -v.
    logging.getLogger("eunomia.libbpf").setLevel(logging.DEBUG if verbose else logging.CRITICAL)
    # the OTLP exporter logs each failed export; ecli counts and reports them itself
    logging.getLogger("opentelemetry").setLevel(logging.DEBUG if verbose else logging.CRITICAL)
