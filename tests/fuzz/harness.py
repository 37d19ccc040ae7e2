"""What a package goes through before anything touches the kernel, for the fuzz tests:
read it, parse its ELF and BTF, build its flags, its record codecs and decode a record.
Any error must be an EunomiaError (one clear line for the user), never another
exception, a hang or unbounded memory."""

from __future__ import annotations

import base64
import json
import zlib


def read_everything(content: bytes) -> None:
    """Every spec-side reader over one package (bytes of package.json)."""
    from eunomia.errors import EunomiaError
    from eunomia.events import record_codec
    from eunomia.kinds import EVENT_MAP_TYPE_NAMES
    from eunomia.package import Package
    from eunomia.session.flags import program_parser
    from eunomia.variables import global_variables

    package = Package.load(content)
    btf = package.btf()
    global_variables(package)
    program_parser(package)[0].format_help()
    for map_meta in package.meta.bpf_skel.maps or []:
        codec, _ = record_codec(package, btf, map_meta.name)
        size = min(max(codec.size, 1), 1 << 20)     # the readers must refuse larger ones
        record = (bytes(range(256)) * (1 + size // 256))[:size]
        try:
            codec.to_json(codec.decode(record))
        except EunomiaError:
            pass
    del EVENT_MAP_TYPE_NAMES


def open_in_child(content: bytes, seconds: float = 10, memory: int = 1 << 30) -> str | None:
    """Reads package `content` and, if it reads, opens its object in libbpf (not
    loaded), in a forked child bounded in time and memory. None when that ends with
    nothing or an EunomiaError; otherwise what went wrong: an exception, a signal (a
    crash in libbpf: a double free aborts), a hang or running out of memory."""
    import os
    import resource
    import signal
    import time
    pid = os.fork()
    if pid == 0:                # the child: never returns
        code = 0
        try:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
            from eunomia.errors import EunomiaError
            from eunomia.package import Package
            from eunomia.runtime.object import BpfObject
            try:
                package = Package.load(content)
                package.btf()
                BpfObject.open(package.bpf_object, package.name).close()
            except EunomiaError:
                pass
            except MemoryError:
                code = 4
            import gc
            gc.collect()        # finalizers run now: a second close would crash here
        except BaseException:  # noqa: BLE001 (reported through the exit code)
            code = 3
        os._exit(code)
    end = time.monotonic() + seconds
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > end:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return f"hang: no answer within {seconds:g} s"
        time.sleep(0.005)
    if os.WIFSIGNALED(status):
        return f"crash: killed by {signal.Signals(os.WTERMSIG(status)).name}"
    code = os.WEXITSTATUS(status)
    return {0: None, 3: "an exception other than EunomiaError", 4: "MemoryError"}.get(
        code, f"exit {code}")


def rename_in_strtab(elf: bytes, old: bytes, new: bytes) -> bytes:
    """`elf` with every string ending in `old` of its string tables (ELF and BTF,
    NUL-terminated; a section name can be the tail of its relocations' ".rel" name)
    written over with `new` (same length): names libbpf reads, with bytes of our
    choosing."""
    assert len(old) == len(new)
    renamed = elf.replace(old + b"\0", new + b"\0")
    assert renamed != elf, old
    return renamed


def with_object(doc: dict, elf: bytes) -> bytes:
    """The package document `doc` carrying `elf` as its object."""
    doc = dict(doc)
    doc["bpf_object"] = base64.b64encode(zlib.compress(elf)).decode()
    doc["bpf_object_size"] = len(elf)
    return json.dumps(doc).encode()


def object_of(doc: dict) -> bytes:
    return zlib.decompress(base64.b64decode(doc["bpf_object"]))


def btf_span(elf: bytes) -> tuple[int, int]:
    """(offset, size) of the .BTF section in `elf`."""
    from eunomia.elf import Elf
    section = Elf(elf).section(".BTF")
    return section.offset, section.size
