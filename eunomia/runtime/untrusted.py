"""Checking a package from someone else (a client of the server, an etcd entry, an
exporter's POST /start) in a child process first: parse it, read its BTF and open it in
libbpf (not loaded). Whatever that does, a crash in libbpf, a hang or a blow-up of
memory, costs the service one clear error for that request; the service and its other
tasks live on.

The children come from a fork server started once (multiprocessing's "forkserver",
with eunomia's readers imported in advance): each check forks a warm, single-threaded
process instead of forking the service's own threads or starting an interpreter.
As multiprocessing does for every child, each one imports the service's `__main__` as
`__mp_main__` first: a program that embeds eunomia's server keeps its start-up under
`if __name__ == "__main__":` (the console scripts and `python -m` do).
"""

from __future__ import annotations

import multiprocessing
import resource
import signal
import threading

from ..errors import EunomiaError, PackageError

CHECK_SECONDS = 20.0
CHECK_MEMORY = 1 << 30           # address space of the checking child
# imported by the fork server once, so that each child starts with them (the last one
# loads libbpf itself: each child would otherwise dlopen it and set its prototypes)
_PRELOAD = ["eunomia.package", "eunomia.btf", "eunomia.elf", "eunomia.runtime.object",
            "eunomia.runtime.untrusted", "eunomia.runtime.checker_preload"]

_context = None
_context_lock = threading.Lock()


def _forkserver():
    global _context
    with _context_lock:
        if _context is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(_PRELOAD)
            _context = context
        return _context


def warm_up() -> None:
    """Starts the fork server now (a service calls it at start, so that the first check
    does not wait for it)."""
    from multiprocessing import forkserver
    _forkserver()
    forkserver.ensure_running()


def _check_package(content: bytes) -> None:
    """Every reader, then libbpf's open (not load)."""
    from ..package import Package
    from .object import BpfObject
    package = Package.load(content)
    package.btf()
    BpfObject.open(package.bpf_object, package.name).close()


def _check(content: bytes, memory: int, answer, check) -> None:
    """In the child: `check(content)`; the answer is None or one line."""
    try:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        check(content)
        result = None
    except EunomiaError as exc:
        result = str(exc)
    except MemoryError:
        result = f"reading it takes more than {memory >> 20} MiB"
    except BaseException as exc:  # noqa: BLE001 (said, not raised: this is the check)
        result = f"the check failed: {type(exc).__name__}"
    try:
        answer.send(result)
    except OSError:
        pass            # the service stopped waiting (past its time): nobody to tell


def check_untrusted(content: bytes, seconds: float = CHECK_SECONDS,
                    memory: int = CHECK_MEMORY, check=None) -> None:
    """PackageError unless `content` reads and opens in libbpf in a child process within
    `seconds` and `memory`; the error says what went wrong there. `check`, a module-level
    function(content) raising EunomiaError, checks something else the same way (a Wasm
    module: compiled, for one, which can take minutes and gigabytes)."""
    context = _forkserver()
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_check, args=(content, memory, send,
                                                 check or _check_package),
                            daemon=True, name="eunomia-check")
    try:
        try:
            child.start()
        except OSError as exc:          # no fd or process left, no fork server
            raise PackageError(f"cannot start the package's check: {exc.strerror or exc}") \
                from None
        finally:
            send.close()
        if not receive.poll(seconds):
            child.kill()
            child.join(5)
            raise PackageError(f"the package's check did not end within {seconds:g} s")
        answer = receive.recv()
    except (EOFError, OSError):
        answer = _NO_ANSWER          # the child died before it answered
    finally:
        receive.close()
    if answer is _NO_ANSWER:
        child.join(5)
        if child.exitcode is not None and child.exitcode < 0:
            raise PackageError("the package crashed the process that checked it "
                               f"({signal_name(-child.exitcode)})")
        raise PackageError(f"the package's check ended without an answer (exit "
                           f"{child.exitcode})")
    child.join(5)
    if answer is not None:
        raise PackageError(answer)


_NO_ANSWER = object()


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:          # a real-time signal, say
        return f"signal {number}"
