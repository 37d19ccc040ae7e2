"""`ecli fleet`: deploy, hot-update and remove packages on every `ecli server --fleet`
agent through etcd; and the etcd options the agents share."""

from __future__ import annotations

import argparse
import math
import os
import socket
import sys
import time
from pathlib import Path

from ..errors import ArgumentError, PackageError
from ..fleet import DEFAULT_PREFIX  # the rest of eunomia.fleet loads where used
from .sigfiles import SIGNATURE_HELP, read_signature

DEFAULT_ETCD = "http://127.0.0.1:2379"
DEFAULT_WAIT_S = 60.0


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected seconds (a number >= 0), not {text!r}")
    return value


def add_etcd_options(parser, endpoints_flag: str | None = "--etcd") -> None:
    """etcd's endpoints, key prefix, TLS and user: as etcdctl names them, with etcd-."""
    if endpoints_flag:
        parser.add_argument(endpoints_flag, metavar="URLS",
                            default=os.environ.get("EUNOMIA_ETCD", DEFAULT_ETCD),
                            help="etcd endpoints, comma-separated (default $EUNOMIA_ETCD, "
                                 f"else {DEFAULT_ETCD})")
    parser.add_argument("--prefix", default=DEFAULT_PREFIX,
                        help=f"key prefix of this fleet (default {DEFAULT_PREFIX}; two "
                             "fleets share one etcd with two prefixes)")
    parser.add_argument("--etcd-cacert", metavar="PEM", help="CA of etcd's TLS certificate")
    parser.add_argument("--etcd-cert", metavar="PEM", help="client certificate for etcd")
    parser.add_argument("--etcd-key", metavar="PEM", help="the client certificate's key")
    parser.add_argument("--etcd-user", metavar="USER[:PASSWORD]",
                        help="etcd user (the password from $ETCD_PASSWORD if not given)")


def store_from_args(args, endpoints: str):
    """(Store, Keys) from the etcd options."""
    from ..fleet.model import Keys
    from ..fleet.store import Store, StoreOptions
    if bool(args.etcd_cert) != bool(args.etcd_key):
        raise ArgumentError("--etcd-cert and --etcd-key go together")
    user = password = None
    if args.etcd_user:
        user, sep, password = args.etcd_user.partition(":")
        password = password if sep else os.environ.get("ETCD_PASSWORD", "")
    urls = [url.strip() for url in endpoints.split(",") if url.strip()]
    options = StoreOptions(urls, args.etcd_cacert, args.etcd_cert, args.etcd_key, user,
                           password)
    return Store(options), Keys(args.prefix)


def add_agent_options(server: argparse.ArgumentParser) -> None:
    group = server.add_argument_group("fleet agent (with --fleet)")
    group.add_argument("--fleet", metavar="ETCD_URLS",
                       help="join the fleet kept in this etcd: run what `ecli fleet apply` "
                            "selects for this node")
    group.add_argument("--node", default=socket.gethostname(),
                       help="this node's name in the fleet (default: the host name)")
    group.add_argument("--label", action="append", default=[], metavar="KEY=VALUE",
                       help="a label selectors match (repeatable)")
    group.add_argument("--lease-ttl", type=int, default=10, metavar="SEC",
                       help="seconds after which a dead agent leaves the status (default 10)")
    add_etcd_options(group, endpoints_flag=None)


def add_fleet_parser(commands) -> None:
    fleet = commands.add_parser(
        "fleet", help="deploy packages to every `ecli server --fleet` agent via etcd",
        description="Keep the desired state of a fleet of `ecli server --fleet` agents in "
                    "etcd: each agent runs the packages whose selector matches its "
                    "labels, hot-replaces them on a new apply, stops them on rm, and "
                    "reports what it runs.",
        epilog="examples:\n"
               "  ecli fleet apply exitsnoop.json --name exits --wait\n"
               "  ecli fleet apply ghcr.io/me/opensnoop:2 --name opens --selector zone=a "
               "-- --targ_uid 1000\n"
               "  ecli fleet status\n  ecli fleet rm exits",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_etcd_options(fleet)
    actions = fleet.add_subparsers(dest="fleet_action", metavar="ACTION", required=True)
    apply = actions.add_parser(
        "apply", help="run a package on the selected nodes (a new version hot-updates)",
        usage="ecli fleet [--etcd URLS] apply PACKAGE|URL|IMAGE [--name NAME]\n"
              "         [--selector KEY=VALUE] [--wait] [--timeout SEC] "
              "[-- PROGRAM-FLAGS...]",
        description="Write NAME's desired state: the package (a file, URL or image, read\n"
                    "here and carried in etcd), its flags after --, and a selector.\n"
                    "Applying the same again changes nothing.",
        epilog="examples:\n  ecli fleet apply examples/exitsnoop/package.json --wait\n"
               "  ecli fleet --etcd http://etcd:2379 apply localhost:5000/x/opensnoop:2 \\\n"
               "      --name opens --selector zone=a -- --targ_uid 1000",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    apply.add_argument("source", metavar="PACKAGE|URL|IMAGE")
    apply.add_argument("--name", help="the fleet name of this package (default: the "
                       "program's name)")
    apply.add_argument("--selector", action="append", default=[], metavar="KEY=VALUE",
                       help="only nodes with these labels (repeatable; default: all)")
    apply.add_argument("--signature", metavar="SIG", help=SIGNATURE_HELP.replace(
        "servers", "agents"))
    apply.add_argument("--wait", action="store_true",
                       help="return once every selected node runs this version")
    apply.add_argument("--timeout", type=_seconds, default=DEFAULT_WAIT_S, metavar="SEC",
                       help=f"for --wait (default {DEFAULT_WAIT_S:g})")
    actions.add_parser("ls", help="list the packages the fleet should run")
    status = actions.add_parser("status", help="what each node runs, with counters")
    status.add_argument("name", nargs="?", help="one package only")
    remove = actions.add_parser("rm", help="stop a package on every node")
    remove.add_argument("name")
    remove.add_argument("--wait", action="store_true",
                        help="return once no node runs it any more")
    remove.add_argument("--timeout", type=_seconds, default=DEFAULT_WAIT_S, metavar="SEC",
                        help=f"for --wait (default {DEFAULT_WAIT_S:g})")
    actions.add_parser("nodes", help="list the agents (nodes) alive now")


def split_program_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """`ecli fleet ... apply PKG --name x -- --targ_pid 1`: the program's flags follow
    the first `--`."""
    if "--" in argv:
        at = argv.index("--")
        return argv[:at], argv[at + 1:]
    return argv, []


def _since(timestamp: float) -> str:
    seconds = max(0, time.time() - timestamp)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def _selector(selector: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in selector.items()) or "*"


def run_fleet(args, program_args: list[str]) -> int:
    from ..fleet.control import Fleet
    store, keys = store_from_args(args, args.etcd)
    fleet = Fleet(store, keys)
    action = args.fleet_action
    if action == "apply":
        return _apply(fleet, args, program_args)
    if action == "rm":
        removed = fleet.remove(args.name)
        say(f"removed {removed.name} (version {removed.version})")
        if args.wait:
            fleet.wait_removed(args.name, args.timeout)
            say(f"{args.name} runs on no node now")
        return 0
    if action == "ls":
        desired = fleet.desired()
        say(f"{'NAME':<20} {'VERSION':<8} {'SELECTOR':<16} {'SIZE':<8} {'APPLIED':<8} "
              "SOURCE")
        for d in desired:
            size = len(d.package) * 3 // 4
            say(f"{d.name:<20} {d.version:<8} {_selector(d.selector):<16} {size:<8} "
                  f"{_since(d.applied_at):<8} {d.source}")
        return 0
    if action == "nodes":
        statuses, nodes = fleet.status(), fleet.nodes()
        say(f"{'NODE':<16} {'TASKS':<6} {'UP':<6} {'KERNEL':<24} LABELS")
        for n in nodes:
            count = sum(1 for s in statuses if s.node == n.node)
            say(f"{n.node:<16} {count:<6} {_since(n.started_at):<6} {n.kernel:<24} "
                  f"{_selector(n.labels)}")
        return 0
    statuses = fleet.status(args.name)
    say(f"{'NODE':<16} {'TASK':<20} {'VERSION':<8} {'STATE':<9} {'SINCE':<6} "
          f"{'EVENTS':<9} ERROR")
    for s in statuses:
        error = s.error + (f" (version {s.running_version} still runs)"
                           if s.running_version else "")
        say(f"{s.node:<16} {s.name:<20} {s.version:<8} {s.state.value:<9} {_since(s.since):<6} "
              f"{s.events:<9} {error}")
    return 0


def say(line: str, **kwargs) -> None:
    """Prints a line of a listing: names, sources and errors come from etcd, written by
    anyone with access to it, so control characters are shown escaped."""
    from ..output.terminal import terminal_safe
    print(terminal_safe(line), **kwargs)


def _apply(fleet, args, program_args: list[str]) -> int:
    from ..fleet.model import parse_labels
    from ..oci import looks_like_reference
    from ..package import Package
    from ..package.source import read_source
    from ..package.wasm_module import is_wasm
    from ..runtime.untrusted import check_untrusted
    from ..session import parse_run_args
    from .run import path_exists
    proof = None
    if not path_exists(args.source) and looks_like_reference(args.source):
        # pulled here with this user's credentials; the entry carries the image's
        # manifest and signatures, for agents with --verify-key or --allowed-images
        from ..oci import Images
        images = Images()
        image = images.pull(args.source)
        content, where, proof = image.content, args.source, images.proof(image)
    else:
        content, where = read_source(args.source)
    if is_wasm(content):            # a Wasm module: its flags are its own argv
        from ..wasm import check_module
        try:
            check_untrusted(content, check=check_module)    # as each agent will
        except PackageError as exc:
            raise PackageError(f"{where}: {exc}") from None
        name = args.name or Path(where).stem
    else:
        try:
            check_untrusted(content)    # as each agent will check it, in a child process
            package = Package.load(content)
            package.btf()
        except PackageError as exc:
            raise PackageError(f"{where}: {exc}") from None
        # refuse bad flags and output settings here, as the agents will (remote: no
        # server paths)
        parse_run_args(package, program_args, service=True, remote=True).printer(package)
        name = args.name or package.meta.bpf_skel.obj_name
    started = time.monotonic()
    signature = read_signature(args.source, args.signature) \
        if path_exists(args.source) or args.signature else None
    applied = fleet.apply(name, content, program_args, parse_labels(args.selector,
                                                                    "--selector"), where,
                          signature or "", proof)
    desired = applied.desired
    what = "applied" if applied.changed else "unchanged:"
    print(f"{what} {desired.name} version {desired.version} (selector "
          f"{_selector(desired.selector)})")
    if args.wait:
        done = fleet.wait_running(desired, args.timeout)
        print(f"running on {len(done)} node(s): {', '.join(s.node for s in done)} "
              f"({time.monotonic() - started:.2f} s)", file=sys.stderr)
    return 0
