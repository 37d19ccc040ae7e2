"""`ecli run FILE` with nothing else, the commonest run: the package is read and its
load started before anything else, and the run needs no command-line parser at all.

The kernel's load (CO-RE relocation and the verifier: 20-30 ms for a small package) runs
in a thread with the GIL released (loaded.BackgroundLoad), so the output layer and the
run core are imported and the printer built while it runs instead of before it; with no
words to read, argparse and every option's parser are never built (bench/run.py:
start-up). The run is then what `ecli run FILE` does through the parser (cli/ecli.py),
with the default settings (session.settings.RunSettings()). Anything unusual (a
directory, a URL, an image, stdin, a Wasm module, a package that does not read or open,
or whose flags need the parser even without words: needs_parser) is left to the usual
order, whose checks say what is wrong with it."""

from __future__ import annotations

import os

# The run options' short names (session.flags.add_run_options; a test keeps the two the
# same): a global's short flag may not take one. Known here without the parser, and
# without importing the session's modules before the load.
RUN_SHORT_OPTIONS = frozenset({"-h", "-j", "-o", "-v"})


class EarlyRun:
    """The package `ecli run` was given and its load under way."""

    def __init__(self, package, loading):
        self.package = package
        self.loading = loading

    def discard(self) -> None:
        """Closes the load when the run did not take it (a no-op when it did)."""
        self.loading.discard()


def start_early_run(argv: list[str]) -> EarlyRun | None:
    """The run of `ecli run FILE` with its load started; None for any other command
    line, or when the usual order should read the package and report on it."""
    if len(argv) != 2 or argv[0] != "run" or argv[1].startswith("-"):
        return None
    source = argv[1]
    if not os.path.isfile(source):
        return None
    from ..errors import EunomiaError
    from ..package import Package
    try:
        package = Package.load(source)
    except (EunomiaError, OSError):
        return None
    if not isinstance(package, Package) or needs_parser(package):
        return None     # a Wasm module runs its own way
    # no -v: libbpf's messages are dropped, and unheard during the load while nothing
    # imports logging (_libbpf._listened); if a site hook imported it, set up now
    from ..logs import in_use
    if in_use():
        _setup_logging()
    loading = start_load(package)
    return EarlyRun(package, loading) if loading is not None else None


def start_load(package):
    """`package`'s load, without values, started in a thread (loaded.BackgroundLoad); or
    None when it cannot start (an object libbpf cannot open, a BTF file that cannot be
    written), left to the usual order, whose checks say better what is wrong."""
    from ..errors import EunomiaError
    from ..loaded import BackgroundLoad
    try:
        return BackgroundLoad(package)
    except (EunomiaError, OSError):
        return None


def needs_parser(package) -> bool:
    """Whether a run of `package` needs its flags' parser even without words: a global's
    flag with a default of its own (`/// @cmdarg {"default": ..}`, which the run sets),
    or one the parser has something to say about (a short name that is taken or not a
    letter: it warns; two variables of one name: it refuses)."""
    names, shorts = [], set(RUN_SHORT_OPTIONS)
    for section in package.meta.bpf_skel.data_sections or []:
        for variable in section.variables:
            cmdarg = variable.cmdarg
            short = cmdarg.short if cmdarg is not None else None
            if cmdarg is not None and cmdarg.default is not None:
                return True
            if short:
                flag = f"-{short}"
                if flag in shorts or len(str(short)) != 1 or not str(short).isalnum():
                    return True
                shorts.add(flag)
            names.append(variable.name)
    return len(set(names)) != len(names)


def main(early: EarlyRun) -> int:
    """The run of `ecli run FILE` whose load `early` started: its exit code."""
    try:
        _setup_logging()        # on the first message: most runs never log a line
        from .guard import run_guarded
        from .run import run_package
        return run_guarded(lambda: run_package(early.package, [], loading=early.loading),
                           verbose=False)
    finally:
        early.discard()     # a no-op when the run took the load


def _setup_logging() -> None:
    from .logs import setup_run_logging
    setup_run_logging(verbose=False, words=[])
