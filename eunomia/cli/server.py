"""`ecli server`: serve the task API until SIGINT/SIGTERM, then stop every task."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .. import defaults
from ..errors import ArgumentError
from ..files import read_text_bounded
from ..net import is_loopback
from .fleet import add_agent_options


def add_server_parser(commands) -> None:
    server = commands.add_parser(
        "server", help="run packages pushed over HTTP (see `ecli client`)",
        description="Serve eunomia-bpf's task API: clients start, watch, pause, resume and "
                    "stop packages. Listens on loopback by default; any other address "
                    "needs --token-file.",
        epilog="examples:\n  ecli server\n  ecli server --addr 0.0.0.0 --token-file "
               "/etc/eunomia/token --tls-cert cert.pem --tls-key key.pem",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    server.add_argument("--addr", default="127.0.0.1", help="address to listen on "
                        "(default 127.0.0.1)")
    server.add_argument("--port", type=int, default=defaults.SERVER_PORT, help="port "
                        f"(default {defaults.SERVER_PORT}; 0 "
                        "picks a free one)")
    server.add_argument("--token-file", metavar="FILE", help="bearer token clients must "
                        "send (required beyond loopback)")
    server.add_argument("--tls-cert", metavar="PEM", help="serve HTTPS with this "
                        "certificate (with --tls-key)")
    server.add_argument("--tls-key", metavar="PEM", help="the certificate's private key")
    server.add_argument("--max-tasks", type=int, default=32, help="tasks at once "
                        "(default 32)")
    server.add_argument("--body-limit", type=int, default=defaults.BODY_LIMIT, metavar="BYTES",
                        help="largest request body (default 16 MiB)")
    server.add_argument("--log-entries", type=int, default=defaults.LOG_ENTRIES,
                        help="log entries kept "
                        "per task (default 10000; older ones are dropped and counted)")
    server.add_argument("--allow-ref-host", action="append", default=[], metavar="HOST",
                        help="a loopback, link-local or private host that program_ref "
                        "(POST /task, the dashboard) may fetch from; repeatable (by "
                        "default only public hosts: a client cannot make the server reach "
                        "its own networks)")
    server.add_argument("--verify-key", action="append", default=[], metavar="PUB",
                        help="run only code signed by this key (cosign's format; "
                        "repeatable): images need a signature (ecli sign, cosign sign), "
                        "packages sent inline or through the fleet a signature of their "
                        "bytes (ecli sign --key KEY FILE writes FILE.sig)")
    server.add_argument("--allowed-images", action="append", default=[],
                        metavar="PREFIX|DIGEST",
                        help="run only images whose reference starts with PREFIX (e.g. "
                        "registry.example/tools/) or whose digest is sha256:...; "
                        "repeatable; nothing sent inline then runs")
    server.add_argument("--state-dir", metavar="DIR",
                        help="keep the tasks clients start in DIR (created 0700) and "
                        "start them again when the server restarts, paused ones paused "
                        "(default: none; fleet tasks come back from etcd anyway)")
    server.add_argument("-v", "--verbose", action="store_true", help="log every request")
    add_agent_options(server)


def read_token(path: str | None) -> str | None:
    if path is None:
        return None
    try:
        token = read_text_bounded(path, 64 << 10).strip()
    except OSError as exc:
        raise ArgumentError(f"cannot read the token file {path}: {exc.strerror}") from None
    if not token:
        raise ArgumentError(f"the token file {path} is empty")
    return token


def code_policy(key_paths: list[str], allowed_images: list[str]):
    """The --verify-key / --allowed-images policy, keys loaded (one line if one is not)."""
    from ..oci.policy import CodePolicy
    from ..oci.signing import load_public_key
    return CodePolicy(tuple(load_public_key(path) for path in key_paths),
                      tuple(allowed_images))


def run_server(args) -> int:
    from ..server import Server, TaskManager

    if bool(args.tls_cert) != bool(args.tls_key):
        raise ArgumentError("--tls-cert and --tls-key go together")
    policy = code_policy(args.verify_key, args.allowed_images)
    state = None
    if args.state_dir:
        from ..server.taskstate import TaskState
        state = TaskState(args.state_dir)
    tasks = TaskManager(max_tasks=args.max_tasks, log_entries=args.log_entries,
                        ref_hosts=args.allow_ref_host, policy=policy, state=state)
    agent = _fleet_agent(args, tasks)
    server = Server(args.addr, args.port, token=read_token(args.token_file), tasks=tasks,
                    body_limit=args.body_limit,
                    tls=(args.tls_cert, args.tls_key) if args.tls_cert else None,
                    verbose=args.verbose, **_fleet_view(agent))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    from ..runtime.untrusted import warm_up
    warm_up()           # the fork server that checks clients' packages, started now
    for line in tasks.restore():        # before the API answers: no id is taken twice
        print(f"ecli server: {line}", file=sys.stderr, flush=True)
    server.start_in_thread()
    print(f"ecli server: listening on {server.url}", file=sys.stderr, flush=True)
    if not policy.active and (args.fleet or not is_loopback(args.addr)):
        print("ecli server: warning: no --verify-key or --allowed-images: it runs unsigned "
              "code from " + ("anyone who can write the fleet's etcd prefix" if args.fleet
                              else "any client with the token"),
              file=sys.stderr, flush=True)
    if agent is not None:
        agent.api_url = server.url
        agent.start()
    try:
        while not stop.wait(0.5):   # a timeout: a signal that lands on another
            pass                    # thread runs its handler only when main wakes
    finally:
        if agent is not None:
            agent.stop()            # no converging while the tasks stop
        server.shutdown_all()
        if agent is not None:
            agent.release()         # the node's status goes once its programs are gone
        print("ecli server: stopped every task", file=sys.stderr, flush=True)
    return 0


def _fleet_agent(args, tasks):
    """The fleet agent of `--fleet`, checked before the server starts (not started)."""
    if not args.fleet:
        return None
    import logging

    from ..fleet.agent import FleetAgent
    from ..fleet.model import check_name, parse_labels
    from .fleet import store_from_args
    check_name(args.node, "--node")
    labels = parse_labels(args.label)
    if args.lease_ttl < 2:
        raise ArgumentError("--lease-ttl: at least 2 seconds")
    store, keys = store_from_args(args, args.fleet)
    logging.getLogger("eunomia.fleet").setLevel(logging.INFO)
    return FleetAgent(store, keys, args.node, labels, tasks, args.lease_ttl)


def _fleet_view(agent) -> dict:
    """What the server's GET /fleet shows: an agent's view, typed by its model."""
    if agent is None:
        return {}
    from ..fleet.model import FleetView
    return {"fleet": agent.view, "fleet_model": FleetView}
