"""`ecli`: run eunomia packages.

    ecli run [-j] [--duration SEC] [-v] PACKAGE [PROGRAM-FLAGS...]
    ecli server [--addr A] [--port P] [--token-file F] [--tls-cert C --tls-key K]
    ecli client [-e URL] [--token-file F] [--json] start|list|log|pause|resume|stop ...
    ecli push|pull|sign|login|logout ... REF;  ecli image ls|rm|inspect
    ecli fleet [--etcd URLS] apply|ls|status|rm|nodes ...

Errors print as one line on stderr with exit code 1; the library's exceptions never reach
the user as a traceback.
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..errors import EunomiaError
from ..flagparser import FlagParser, HelpRequested
from .guard import report, run_guarded
from .images import COMMANDS as IMAGE_COMMANDS
from .images import (
    RUN_IMAGE_OPTIONS,
    add_image_parsers,
    add_run_image_options,
    registry_options,
    run_image_command,
)
from .logs import setup_logging, setup_run_logging

# Each command's modules load only when it is asked for: `ecli run` starts without the
# server, client and fleet, and those (and push, pull, ...) without the run core
# (bench/run.py: start-up).
RUN_HELP = "load a package, attach its programs and print its events"

PROG_TYPES = ("json", "tar", "wasm")        # eunomia-bpf's -p

EXAMPLES = """examples:
  ecli run examples/bootstrap/package.json
  ecli run --json examples/opensnoop/package.json --targ_pid 42
  ecli run examples/opensnoop/package.json --help     # the program's own flags
  curl -s http://host/pkg.json | ecli run -
  ecli run localhost:5000/tools/exitsnoop:1          # an image in an OCI registry
  ecli server &  ecli client start examples/exitsnoop/package.json  # run it remotely
"""


class _ShowVersion(argparse.Action):
    # argparse's own version action exits through FlagParser.exit, which is an error
    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        raise HelpRequested(f"ecli {__version__}\n")


def _top_parser(command: str | None = None) -> argparse.ArgumentParser:
    """ecli's parser: only the run command's when `command` is "run", the others' with
    a stub for run when it is another command (what each parses is the same; the
    modules of the commands not asked for stay unloaded), every command's otherwise."""
    parser = FlagParser(
        prog="ecli", description="Run eunomia eBPF packages: load, attach, print events.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-V", "--version", action=_ShowVersion, help="show the version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    if command in (None, "run") or command.startswith("-"):
        _add_run_parser(commands)
    else:
        commands.add_parser("run", help=RUN_HELP)      # never parses here
    if command != "run":
        from .client import add_client_parser
        from .fleet import add_fleet_parser
        from .server import add_server_parser
        add_server_parser(commands)
        add_client_parser(commands)
        add_image_parsers(commands)
        add_fleet_parser(commands)
    return parser


def _add_run_parser(commands) -> None:
    from ..session.flags import add_run_options
    from .wasm import add_wasm_options
    run = commands.add_parser(
        "run", help=RUN_HELP,
        description="Load a package, attach its programs, print decoded events and sampled "
                    "maps until Ctrl-C, SIGTERM, SIGHUP or --duration. At the stop the "
                    "programs are detached first and every record already sent is written "
                    "(a second Ctrl-C, or --stop-timeout, abandons the rest and says how "
                    "many). Flags after PACKAGE set the program's global variables: `ecli "
                    "run PACKAGE --help` lists them.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(run)
    run.add_argument("-p", "--prog-type", choices=PROG_TYPES, type=str.lower,
                     help="what PACKAGE is, before it (default: its content or name tells)")
    add_wasm_options(run)
    add_run_image_options(run)
    run.add_argument("package", metavar="PACKAGE",
                     help="package.json/.yaml, a directory holding one, a Wasm module "
                          "(app.wasm: the words after it are its argv), an http(s) URL, "
                          "an image HOST[:PORT]/NAME[:TAG|@sha256:...], or - for standard "
                          "input")
    run.add_argument("program_args", nargs=argparse.REMAINDER, metavar="PROGRAM-FLAGS",
                     help="the program's own flags")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    program_args: list[str] = []
    if argv[:1] == ["fleet"]:
        from .fleet import split_program_args
        argv, program_args = split_program_args(argv)
    parser = _top_parser(argv[0] if argv else None)
    try:
        args = parser.parse_args(argv)
    except HelpRequested as shown:
        sys.stdout.write(shown.text)
        return 0
    except EunomiaError as exc:
        report(exc, verbose=False)
        return 1
    if args.command is None:
        sys.stdout.write(parser.format_help())
        return 2
    if args.command in ("server", "client"):
        return _serve_or_call(args)
    if args.command == "fleet":
        from .fleet import run_fleet
        setup_logging(False)
        return run_guarded(lambda: run_fleet(args, program_args), verbose=False)
    if args.command in IMAGE_COMMANDS:
        setup_logging(False)
        return run_guarded(lambda: run_image_command(args), verbose=False)
    # Run options may also follow PACKAGE, so the program's parser sees every argument
    # except the package itself.
    rest = argv[1:]
    package_index = len(rest) - len(args.program_args) - 1
    program_argv = _without_ecli_options(rest[:package_index]) + rest[package_index + 1:]
    verbose = args.verbose or "-v" in args.program_args or "--verbose" in args.program_args
    setup_run_logging(verbose, argv)
    from ..package.wasm_module import WasmModule
    from .run import load_package_argument, run_package
    from .wasm import check_not_wasm_options, run_wasm

    def run():
        package = load_package_argument(args.package, args.prog_type,
                                        lambda: registry_options(args), args.pull,
                                        args.verify_key)
        if isinstance(package, WasmModule):
            return run_wasm(package, args.program_args, args)
        check_not_wasm_options(args)
        return run_package(package, program_argv)
    return run_guarded(run, verbose)


# options before PACKAGE that only ecli reads -> whether each takes a value
ECLI_ONLY = {"-p": True, "--prog-type": True, "--wasm-memory": True, "--dir": True,
             **RUN_IMAGE_OPTIONS}


def _without_ecli_options(words: list[str]) -> list[str]:
    """The run options before PACKAGE less those only ecli reads (-p, the image options):
    the program's parser gets the rest (a program may have a -p flag of its own after
    PACKAGE)."""
    kept, skip = [], False
    for word in words:
        name = word.split("=", 1)[0]
        if skip:
            skip = False
        elif name in ECLI_ONLY:
            skip = ECLI_ONLY[name] and "=" not in word
        elif not (word.startswith("-p") and not word.startswith("--")):
            kept.append(word)
    return kept


def _serve_or_call(args) -> int:
    from .client import run_client
    from .server import run_server
    setup_logging(getattr(args, "verbose", False))
    return run_guarded(lambda: run_server(args) if args.command == "server"
                    else run_client(args), verbose=False)


if __name__ == "__main__":
    sys.exit(main())
