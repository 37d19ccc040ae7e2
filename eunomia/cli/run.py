"""`ecli run`: a Session whose sink is stdout, stopped by a signal or --duration.

The first SIGINT, SIGTERM or SIGHUP stops the run: the programs are detached and every
record already sent is written before exit. A second signal, or the session's stop bound,
abandons what is left and says how many records that was.

Start-up order: the flags are read, then the kernel's load starts in a thread
(loaded.BackgroundLoad: libbpf and the verifier run without the GIL), and only then are
the output layer and the run core imported and the printer built, while the kernel
checks the programs (bench/run.py: start-up). A run with no flags starts its load even
before the flags are read, and `ecli run FILE` before the command line is (cli/early.py).
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from ..errors import ArgumentError
from ..kinds import TRACE_PIPE
from ..package import Package
from .early import needs_parser, start_load

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

__all__ = ["load_package_argument", "run_package"]


def warn(message: str) -> None:
    print(f"ecli: {message}", file=sys.stderr, flush=True)


def run_package(package, argv: list[str], out=None, prog: str | None = None,
                loading=None) -> int:
    """Parses the program's flags from `argv`, then runs the package until stopped.
    Exit code 0, or 1 when records were left unwritten at the stop. `prog` names the
    command in the help (a standalone tool's own name); `loading` is its load already
    started (cli.early), without values."""
    from ..loaded import BackgroundLoad
    if loading is None and not argv and not needs_parser(package):
        # no words set no global and no --btf: the load starts before the flags'
        # parser (which needs the object's BTF, parsed in Python) is built
        loading = start_load(package)
    try:
        settings = _run_settings(package, argv, prog)
    except BaseException:
        if loading is not None:
            loading.discard()
        raise
    if loading is None or settings.values or settings.btf:
        if loading is not None:     # not what the settings ask for
            loading.discard()
        loading = BackgroundLoad(package, settings.values, btf=settings.btf)
    try:
        from ..session.core import Session
        from .running import FdWriter, StopSignals, StreamSink
        printer = settings.printer(package)
        writer = out
        if writer is None:
            sys.stdout.flush()
            writer = FdWriter(sys.stdout.fileno())
        sink = StreamSink(writer, printer)
        session = Session(package, settings, sink, loading=loading)
        if isinstance(writer, FdWriter):
            writer.give_up = session.gave_up
        with StopSignals(session):
            session.start()
            printer.stack_lookup = session.stack_lookup
            warn(f"attached {session.attached} program(s) of '{session.name}'; press "
                 "Ctrl-C to stop")
            if not session.sources and not session.samplers and not settings.trace:
                warn(f"'{session.name}' sends no events or sampled maps to user space; what "
                     f"it prints with bpf_printk goes to {TRACE_PIPE} (add --trace to "
                     "follow it here)")
            report = session.run()
    finally:
        loading.discard()       # a run that failed before its start took the load
    return 1 if report.unwritten else 0


def _run_settings(package, argv: list[str], prog: str | None):
    """The run's settings from its words; with none, the defaults without building the
    flags' parser (argparse, every option and a flag per global: ~10 ms of a run's
    start), unless the package needs it all the same (early.needs_parser: a flag's
    default of its own, a short name). The globals are read all the same (the object's
    BTF, which the printer reads anyway, and the meta against it), so that what is
    wrong with them is said as with flags."""
    if argv or needs_parser(package):
        from ..session.flags import parse_run_args
        return parse_run_args(package, argv, prog=prog)
    from ..session.settings import RunSettings
    from ..variables import global_variables
    global_variables(package)
    return RunSettings()


def path_exists(name: str) -> bool:
    """Path.exists() that answers False for a name the system refuses (too long, a loop
    of links) instead of raising."""
    try:
        return Path(name).exists()
    except (OSError, ValueError):
        return False


def load_package_argument(source: str, kind: str | None = None, registry_options=None,
                          pull: str = "missing", verify_key: str | None = None):
    """The package `ecli run` names: a file, URL or stdin, or an image pulled with the
    run's registry options (`registry_options()` makes them, so that -i asks only for
    an image) and checked with --verify-key."""
    local = source == "-" or path_exists(source)
    if not local:
        from ..oci import looks_like_reference  # loaded only for what may be an image
        local = not looks_like_reference(source)
    if local:
        if verify_key:
            raise ArgumentError("--verify-key checks images (HOST/NAME:TAG); "
                                f"{source} is not one")
        return Package.load(source, kind)
    from ..oci import fetch_package
    from ..oci.signing import load_public_key
    key = load_public_key(verify_key) if verify_key else None
    image = fetch_package(source, registry_options() if registry_options else None,
                          pull, key)
    return Package.load(image.content, kind or image.kind)
