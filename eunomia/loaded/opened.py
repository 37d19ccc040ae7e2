"""OpenPackage: a package opened by libbpf, not loaded (the phase where globals, autoload
and map sizes are set); load() makes the LoadedPackage."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import TYPE_CHECKING, Any

from .. import _libbpf
from ..errors import ArgumentError, BTFError, DecodeError, EunomiaError, PackageError
from ..kinds import kernel_btf_path
from ..package.btfarchive import KernelId, btf_from, pick
from ..runtime.object import BpfObject

if TYPE_CHECKING:
    from ..variables import GlobalVariable
    from .live import LoadedPackage


def require_kernel_btf() -> None:
    """CO-RE packages are relocated against the running kernel's BTF: it must exist."""
    path = kernel_btf_path()
    if not os.path.exists(path):
        raise BTFError(f"this kernel has no BTF ({path} is missing): give one with --btf "
                       "PATH (a BTF file, or BTFHub's archive), or run a tar package built "
                       "with `ecc --btfgen`")


def custom_btf(package, btf: str | None) -> bytes | None:
    """The kernel BTF to relocate against when it is not the running kernel's own: `btf`
    (--btf: a file, an archive directory or a tar), else, on a kernel without BTF, the
    one for this kernel among the package's own (a tar package). None: the kernel's."""
    if btf:
        return btf_from(btf)
    if os.path.exists(kernel_btf_path()):
        return None
    if package.btf_files:
        return pick(package.btf_files, KernelId.here(), "the package's BTF archive")
    require_kernel_btf()
    return None


# libbpf's messages (the verifier log) go to one printer: one open or load at a time.
_LOAD_LOCK = threading.RLock()


class OpenPackage:
    """A package opened by libbpf but not loaded: the only phase where global variables,
    autoload and map sizes can be set. load() turns it into a LoadedPackage, after which
    this object is spent; close() (or the with block) frees it if it was never loaded."""

    def __init__(self, package, btf: str | None = None):
        """`btf`: the kernel BTF to relocate against instead of the running kernel's (see
        custom_btf); needed on a kernel without BTF unless the package brings its own."""
        self.package = package
        self._by_name: dict[str, GlobalVariable] | None = None     # see _globals()
        blob = custom_btf(package, btf)
        self._btf_file = None
        if blob is not None:        # libbpf reads it from a file, at load time
            import tempfile
            fd, self._btf_file = tempfile.mkstemp(prefix="eunomia-", suffix=".btf")
            with os.fdopen(fd, "wb") as out:
                out.write(blob)
        try:
            with _LOAD_LOCK:
                self._obj = BpfObject.open(package.bpf_object,
                                           name=package.meta.bpf_skel.obj_name or None,
                                           btf_custom_path=self._btf_file)
        except BaseException:
            self._forget_btf_file()
            raise

    def _forget_btf_file(self) -> None:
        if self._btf_file is not None:
            os.unlink(self._btf_file)
            self._btf_file = None

    def _object(self) -> BpfObject:
        if self._obj is None:
            raise ArgumentError("this OpenPackage was loaded or closed already: set "
                                "globals, autoload and map sizes before load()")
        return self._obj

    def _globals(self) -> dict[str, GlobalVariable]:
        """The package's globals by name, read from its BTF when first asked for:
        opening and loading need none of it (`ecli run` without flags starts its load
        before it parses the BTF)."""
        if self._by_name is None:
            from ..variables import global_variables  # the BTF parsed in Python
            self._by_name = {v.name: v for v in global_variables(self.package)}
        return self._by_name

    @property
    def variables(self) -> dict[str, GlobalVariable]:
        return dict(self._globals())

    @property
    def program_names(self) -> list[str]:
        return list(self._object().programs)

    @property
    def map_names(self) -> list[str]:
        return list(self._object().maps)

    def set_global(self, name: str, value: Any) -> OpenPackage:
        """Writes `value` into global variable `name` (checked against its C type)."""
        obj = self._object()
        var = self._globals().get(name)
        if var is None:
            known = ", ".join(sorted(self._globals())) or "none"
            raise ArgumentError(f"package has no global variable '{name}' "
                                f"(its globals: {known})")
        try:
            data = var.codec.encode(value)
        except DecodeError as exc:
            raise ArgumentError(f"bad value for '{name}' ({var.c_type}): {exc}") from None
        section_map = obj.maps.get(var.section)
        if section_map is None:
            raise PackageError(f"the object has no {var.section} map for '{name}'")
        section_map.initial_value[var.offset:var.offset + len(data)] = data
        return self

    def set_globals(self, values: dict[str, Any]) -> OpenPackage:
        for name, value in values.items():
            self.set_global(name, value)
        return self

    def set_autoload(self, program: str, enabled: bool) -> OpenPackage:
        """Whether `program` is loaded at all (a program left out cannot be attached)."""
        _named(self._object().programs, "program", program).autoload = enabled
        return self

    def set_max_entries(self, map_name: str, count: int) -> OpenPackage:
        """Resizes a map (a ring buffer's size in bytes: a power of two of pages)."""
        _named(self._object().maps, "map", map_name).max_entries = count
        return self

    def load(self, quiet: bool = False) -> LoadedPackage:
        """Loads every program and creates every map; a failure closes this object.
        `quiet`: libbpf's messages off when nobody would see them (_libbpf.unheard); a
        failure then raises _LoadAgain, as its error would lack the verifier's log."""
        return self._live(self._load_object(quiet))

    def _load_object(self, quiet: bool) -> BpfObject:
        """The load itself (libbpf and the kernel, mostly without the GIL)."""
        obj = self._object()
        self._obj = None
        try:
            with _LOAD_LOCK, _libbpf.lib.unheard() if quiet else \
                    contextlib.nullcontext(False) as unheard:
                try:
                    obj.load()
                except EunomiaError as exc:
                    if unheard:
                        raise _LoadAgain() from exc
                    raise
        except BaseException:
            obj.close()
            raise
        finally:
            self._forget_btf_file()
        return obj

    def _live(self, obj: BpfObject) -> LoadedPackage:
        """The LoadedPackage around a loaded object (closed if that fails)."""
        try:
            from .live import LoadedPackage  # imported meanwhile by `ecli run`
            return LoadedPackage(self.package, obj, self._by_name)
        except BaseException:
            obj.close()
            raise

    def close(self) -> None:
        obj, self._obj = self._obj, None
        if obj is not None:
            obj.close()
        self._forget_btf_file()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _named(table: dict, kind: str, name: str):
    """table[name], or an ArgumentError listing what there is."""
    if name not in table:
        raise ArgumentError(f"package has no {kind} '{name}' (its {kind}s: "
                            f"{', '.join(table) or 'none'})")
    return table[name]




class _LoadAgain(Exception):
    """A quiet load failed: load again with libbpf's messages, for the error's details."""


def _opened(package, values, autoload, btf) -> OpenPackage:
    opened = OpenPackage(package, btf)
    try:
        opened.set_globals(values or {})
        for program, enabled in (autoload or {}).items():
            opened.set_autoload(program, enabled)
    except BaseException:
        opened.close()
        raise
    return opened


def load_package(package, values: dict[str, Any] | None = None,
                 autoload: dict[str, bool] | None = None,
                 btf: str | None = None) -> LoadedPackage:
    """Opens the object, writes `values` into its globals, sets `autoload`, and loads it
    (`btf`: see custom_btf): both phases at once. A failed quiet load (libbpf's messages
    off: nobody listens) is made again with them, for the verifier's log."""
    return _quiet_load(_opened(package, values, autoload, btf), package, values, autoload,
                       btf)


def _quiet_load(opened: OpenPackage, package, values, autoload, btf) -> LoadedPackage:
    """`opened` loaded quietly; after a failure, the package opened and loaded again
    with libbpf's messages, for the verifier's log its error carries."""
    loaded, obj = _quiet_load_object(opened, package, values, autoload, btf)
    return loaded._live(obj)


def _quiet_load_object(opened: OpenPackage, package, values, autoload,
                       btf) -> tuple[OpenPackage, BpfObject]:
    """_quiet_load's load: the object, and the OpenPackage that loaded it."""
    try:
        return opened, opened._load_object(quiet=True)
    except _LoadAgain:
        again = _opened(package, values, autoload, btf)
        return again, again._load_object(quiet=False)


# libbpf reports each step of a load to its print callback, which runs Python: under the
# interpreter's default switch interval (5 ms) every report would wait that long for the
# thread that holds the GIL.
SWITCH_WHILE_LOADING = 0.0002


class BackgroundLoad:
    """load_package with the load itself in a thread of its own, for a caller with work
    to do meanwhile.

    The object is opened and its globals set in the caller's thread (quick, and mostly
    Python); then bpf_object__load (CO-RE relocation against the kernel's BTF, the
    kernel's verifier: about 20 ms for a small package here) runs in C with the GIL
    released, while `ecli run` imports its output layer and builds its printer.
    result() waits and gives the LoadedPackage, or raises what the load raised;
    discard() waits and closes it (a run that fails before it starts)."""

    def __init__(self, package, values: dict[str, Any] | None = None,
                 btf: str | None = None):
        opened = _opened(package, values, None, btf)
        # the thread's result: the object loaded and the OpenPackage it came from (the
        # caller's thread makes the LoadedPackage: no Python left in the load's thread)
        self._loaded: tuple[OpenPackage, BpfObject] | None = None
        self._error: BaseException | None = None
        self._switch = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_WHILE_LOADING)
        self._thread = threading.Thread(target=self._load,
                                        args=(opened, package, values, btf),
                                        name="eunomia-load", daemon=True)
        self._thread.start()

    def _load(self, opened: OpenPackage, package, values, btf) -> None:
        try:
            self._loaded = _quiet_load_object(opened, package, values, None, btf)
        except BaseException as exc:  # noqa: BLE001 (handed to result()'s caller)
            self._error = exc

    def _join(self) -> None:
        self._thread.join()
        sys.setswitchinterval(self._switch)

    def result(self) -> LoadedPackage:
        self._join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        loaded, self._loaded = self._loaded, None
        if loaded is None:
            raise ArgumentError("this load's result was taken already")
        opened, obj = loaded
        return opened._live(obj)

    def discard(self) -> None:
        self._join()
        self._error = None
        if self._loaded is not None:
            self._loaded[1].close()
            self._loaded = None
