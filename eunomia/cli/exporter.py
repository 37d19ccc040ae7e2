"""`eunomia-exporter`: serve the metrics of the programs in a config file.

    eunomia-exporter                                   # ./config.yaml, :8526/metrics
    eunomia-exporter -c config.yaml                    # http://127.0.0.1:8526/metrics
    eunomia-exporter -c config.yaml --listen 0.0.0.0:9435 --token-file /etc/eunomia/token
    eunomia-exporter -c config.yaml --check            # validate only, load nothing
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from .. import __version__, defaults
from ..errors import ArgumentError, EunomiaError
from .guard import print_error
from .logs import setup_logging
from .server import read_token

EXAMPLES = """examples:
  eunomia-exporter                                   # ./config.yaml
  eunomia-exporter -c examples/exporter/opensnoop.yaml
  eunomia-exporter -c config.yaml --listen 0.0.0.0:9435 --token-file /etc/eunomia/token
  eunomia-exporter -c config.yaml --otlp http://127.0.0.1:4318/v1/metrics
  eunomia-exporter -c config.yaml --check
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="eunomia-exporter", epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run the eBPF programs of a config file and expose their events and "
                    "maps as Prometheus metrics (and over OTLP).")
    p.add_argument("-V", "--version", action="version",
                   version=f"eunomia-exporter {__version__}")
    p.add_argument("-c", "--config", default="config.yaml", help="config file (YAML or "
                   "JSON, eunomia-bpf's exporter format; default ./config.yaml, as "
                   "eunomia-bpf's exporter reads)")
    p.add_argument("--listen", default="127.0.0.1:8526", metavar="ADDR:PORT",
                   help="where to serve /metrics (default 127.0.0.1:8526; beyond loopback "
                        "needs --token-file)")
    p.add_argument("--token-file", metavar="FILE", help="bearer token for /metrics and the "
                   "management endpoints (POST /start, POST /stop, GET /list need one)")
    p.add_argument("--tls-cert", metavar="PEM", help="serve HTTPS (with --tls-key)")
    p.add_argument("--tls-key", metavar="PEM", help="the certificate's private key")
    p.add_argument("--max-series", type=int, default=defaults.MAX_SERIES, metavar="N",
                   help="series per metric before new label sets are dropped and counted "
                        "(default 10000; a metric's max_series overrides it)")
    p.add_argument("--bpf-stats", action="store_true", help="turn on the kernel's BPF run "
                   "statistics and export each program's run count and time")
    p.add_argument("--otlp", metavar="ENDPOINT", help="also push the metrics over "
                   "OTLP/HTTP, e.g. http://127.0.0.1:4318/v1/metrics")
    p.add_argument("--otlp-interval", type=float, default=10.0, metavar="SEC",
                   help="seconds between OTLP pushes (default 10)")
    p.add_argument("--check", action="store_true", help="validate the config (packages, "
                   "flags, fields, decoders) without loading anything, then exit")
    p.add_argument("-v", "--verbose", action="store_true", help="log every request")
    return p


def split_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host or int(port) > 65535:
        raise ArgumentError(f"--listen wants ADDR:PORT (a port up to 65535), not {text!r}")
    return host.strip("[]"), int(port)


def serve(args) -> int:
    from ..exporter import Exporter, load_config
    from ..exporter.http import ExporterServer

    if args.max_series < 1:
        raise ArgumentError("--max-series must be at least 1")
    if args.otlp_interval <= 0:
        raise ArgumentError("--otlp-interval must be more than 0 seconds")
    if bool(args.tls_cert) != bool(args.tls_key):
        raise ArgumentError("--tls-cert and --tls-key go together")
    host, port = split_listen(args.listen)
    token = read_token(args.token_file)
    if args.config == "config.yaml" and not os.path.exists(args.config):
        raise ArgumentError("no config.yaml in this directory (the default config): give "
                            "one with -c FILE")
    config = load_config(args.config, args.max_series)
    if args.check:
        metrics = sum(len(p.metrics) for p in config.programs)
        print(f"{args.config}: OK ({len(config.programs)} program(s), {metrics} metric(s))")
        return 0
    from ..web import check_bind
    check_bind(host, token)        # before anything is loaded
    exporter = Exporter(bpf_stats=args.bpf_stats)
    pusher = server = None
    serving = False
    try:
        # listen first: a port in use fails before anything is loaded
        server = ExporterServer(exporter, host, port, token,
                                (args.tls_cert, args.tls_key) if args.tls_cert else None,
                                args.max_series, verbose=args.verbose)
        exporter.start_all(config.programs)
        for name, seconds in exporter.start_times():
            print(f"eunomia-exporter: program {name} attached in {seconds * 1000:.0f} ms",
                  file=sys.stderr, flush=True)
        if args.otlp:
            from ..exporter.otlp import OtlpPusher
            pusher = OtlpPusher(exporter, args.otlp, args.otlp_interval).start()
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, lambda *_: stop.set())
        server.start_in_thread()
        serving = True
        print(f"eunomia-exporter: serving {server.url}/metrics", file=sys.stderr, flush=True)
        while not stop.wait(0.5):   # a timeout: a signal that lands on another
            pass                    # thread runs its handler only when main wakes
    finally:
        if serving:
            server.shutdown()       # waits for serve_forever: only once it runs
        if server is not None:
            server.server_close()
        if pusher is not None:
            pusher.close()
        exporter.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        return serve(args)
    except EunomiaError as exc:
        print_error("eunomia-exporter", exc)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
