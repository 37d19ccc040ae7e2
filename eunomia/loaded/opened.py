"""OpenPackage: a package opened by libbpf, not loaded (the phase where globals, autoload
and map sizes are set); load() makes the LoadedPackage."""

from __future__ import annotations

import os
import tempfile
import threading
from typing import Any

from ..errors import ArgumentError, BTFError, DecodeError, PackageError
from ..kinds import kernel_btf_path
from ..package.btfarchive import KernelId, btf_from, pick
from ..runtime import BpfObject
from ..variables import GlobalVariable, global_variables
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
        self._variables = global_variables(package)
        self._by_name = {v.name: v for v in self._variables}
        blob = custom_btf(package, btf)
        self._btf_file = None
        if blob is not None:        # libbpf reads it from a file, at load time
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

    @property
    def variables(self) -> dict[str, GlobalVariable]:
        return dict(self._by_name)

    @property
    def program_names(self) -> list[str]:
        return list(self._object().programs)

    @property
    def map_names(self) -> list[str]:
        return list(self._object().maps)

    def set_global(self, name: str, value: Any) -> OpenPackage:
        """Writes `value` into global variable `name` (checked against its C type)."""
        obj = self._object()
        var = self._by_name.get(name)
        if var is None:
            known = ", ".join(sorted(self._by_name)) or "none"
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

    def load(self) -> LoadedPackage:
        """Loads every program and creates every map; a failure closes this object."""
        obj = self._object()
        self._obj = None
        try:
            with _LOAD_LOCK:
                obj.load()
        except BaseException:
            obj.close()
            raise
        finally:
            self._forget_btf_file()
        return LoadedPackage(self.package, obj, self._variables)

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




def load_package(package, values: dict[str, Any] | None = None,
                 autoload: dict[str, bool] | None = None,
                 btf: str | None = None) -> LoadedPackage:
    """Opens the object, writes `values` into its globals, sets `autoload`, and loads it
    (`btf`: see custom_btf): both phases at once."""
    with OpenPackage(package, btf) as opened:
        opened.set_globals(values or {})
        for program, enabled in (autoload or {}).items():
            opened.set_autoload(program, enabled)
        return opened.load()
