"""A package: one BPF object plus the metadata that says how to load, run and show it."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ..errors import PackageError
from ..valueclass import field, valueclass
from .bpf_object import check_elf, decode_bpf_object, encode_bpf_object
from .btfarchive import PACKAGE_MEMBER, is_tar, read_tar
from .fields import expect_object, extra_keys, optional, required
from .meta import Meta
from .source import PackageSource, parse_document, read_source
from .wasm_module import WasmModule, is_wasm

_TOP_FIELDS = ("bpf_object", "bpf_object_size", "meta")


@valueclass
class Package:
    """A compiled eBPF program and its metadata (a spec: nothing here touches the kernel).

        pkg = Package.load("package.json")     # or a directory, URL, "-", bytes
        pkg.meta.bpf_skel.progs[0].attach      # "tp/sched/sched_process_exec"
        pkg.save("copy.yaml")
    """

    bpf_object: bytes
    meta: Meta
    extra: dict = field(default_factory=dict)
    # {archive path: BTF} of a `tar` package (ecc --btfgen): for kernels without BTF
    btf_files: dict = field(default_factory=dict, repr=False, compare=False)
    _btf: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        check_elf(self.bpf_object)

    # -- reading ----------------------------------------------------------------------

    @classmethod
    def load(cls, source: PackageSource, kind: str | None = None) -> Package:
        """Reads a package from a path (.json/.yaml/.tar), a directory holding
        package.json or package.yaml, an http(s) URL, "-" for stdin, or the content
        itself (bytes/str). `kind` ("json", "tar", "wasm"; eunomia-bpf's -p) says what
        it is; by default the content (or a .tar name) tells. A Wasm module gives a
        WasmModule (run it with eunomia.wasm.run_module)."""
        if kind not in (None, "json", "tar", "wasm"):
            raise PackageError(f"unknown program type {kind!r} (json, tar or wasm)")
        content, name = read_source(source)
        if kind == "wasm" or (kind is None and is_wasm(content)):
            return WasmModule(bytes(content), name)
        if kind == "tar" or (kind is None and (is_tar(content) or name.endswith(".tar"))):
            package_json, btf_files = read_tar(content, name)
            package = cls._parsed(package_json, f"{name}: {PACKAGE_MEMBER}")
            package.btf_files = btf_files
            return package
        return cls._parsed(content, name)

    @classmethod
    def _parsed(cls, content: bytes, name: str) -> Package:
        doc = parse_document(content, name)
        try:
            return cls.from_dict(doc)
        except PackageError as exc:
            if name.startswith("<"):
                raise
            raise PackageError(f"{name}: {exc}") from None

    @classmethod
    def from_dict(cls, doc: Any) -> Package:
        """Validates a parsed package document; PackageError names the broken path."""
        doc = expect_object(doc, "package")
        if "bpf_object" not in doc and "bpf_skel" in doc:
            raise PackageError("missing 'bpf_object': this is a skeleton (.skel.json) without "
                               "its object; use the package.json ecc wrote beside it")
        text = required(doc, "bpf_object", str, "package")
        size = optional(doc, "bpf_object_size", int, "package")
        if "meta" not in doc:
            raise PackageError("package: missing 'meta'")
        check_text(doc["meta"], "meta")
        meta = Meta.from_dict(doc["meta"], "meta")
        return cls(bpf_object=decode_bpf_object(text, size), meta=meta,
                   extra=extra_keys(doc, _TOP_FIELDS))

    # -- writing ----------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {"bpf_object": encode_bpf_object(self.bpf_object),
                "bpf_object_size": len(self.bpf_object),
                "meta": self.meta.to_dict(), **self.extra}

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def to_yaml(self) -> str:
        import yaml
        return yaml.safe_dump(self.to_dict(), sort_keys=False, width=float("inf"))

    def save(self, path: str | os.PathLike) -> Path:
        """Writes the package atomically; YAML for a .yaml/.yml path, JSON otherwise."""
        path = Path(path)
        content = self.to_yaml() if path.suffix in (".yaml", ".yml") else self.to_json()
        write_atomically(path, content.encode())
        return path

    # -- views ------------------------------------------------------------------------

    @property
    def bpf_object_size(self) -> int:
        return len(self.bpf_object)

    @property
    def name(self) -> str:
        return self.meta.bpf_skel.obj_name

    def btf(self):
        """The BTF of the object (eunomia.btf.BTF), parsed once."""
        if self._btf is None:
            from ..btf import BTF
            btf = BTF.from_elf(self.bpf_object)
            check_export_types(self.meta.export_types, btf)
            self._btf = btf
        return self._btf

    def open(self, autoload: dict[str, bool] | None = None, **values):
        """Loads the package into the kernel, setting globals from keywords
        (`pkg.open(targ_pid=42)`); `autoload={"prog": False}` leaves programs out of the
        load (e.g. a kprobe on a kernel without kprobes). Returns an
        eunomia.loaded.LoadedPackage, a context manager that closes everything."""
        from ..loaded import load_package
        return load_package(self, values or None, autoload)


def check_text(value: Any, where: str) -> None:
    """PackageError, naming the path, for any string (key or value) in `value` that is
    not valid Unicode text: JSON lets a document escape a lone surrogate ("\\ud800"),
    which no C call and no UTF-8 output can take."""
    stack = [(value, where)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode()
                except UnicodeEncodeError:
                    raise PackageError(f"{path}: not valid Unicode text (a lone surrogate: "
                                       f"{item[:40]!r})") from None
        elif isinstance(item, dict):
            for key, inner in item.items():
                stack.append((key, f"{path} (a key)"))
                stack.append((inner, f"{path}.{key}"))
        elif isinstance(item, list):
            stack.extend((inner, f"{path}[{i}]") for i, inner in enumerate(item))


def write_atomically(path: Path, content: bytes) -> None:
    """Writes `content` to `path` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def check_export_types(exports, btf) -> None:
    """Each export type must be a struct of the object's BTF with the size the meta says,
    and every member the meta lists must be one of its fields: a package that lies about
    its records is refused before its records are decoded with the wrong layout."""
    from ..btf import Struct, Union
    for index, export in enumerate(exports):
        where = f"meta.export_types[{index}] ({export.name})"
        t = btf.types[export.type_id] if 0 < export.type_id < len(btf.types) else None
        if not (isinstance(t, (Struct, Union)) and t.name == export.name):
            found = [t for _, t in btf.find_all(export.name) if isinstance(t, (Struct, Union))]
            if not found:
                raise PackageError(f"{where}: the object's BTF has no struct {export.name}")
            t = found[0]
        if export.size and export.size != t.size:
            raise PackageError(f"{where}: size {export.size} but the object's struct is "
                               f"{t.size} bytes")
        fields = set(_field_names(btf, t))
        for member in export.members:
            if member.name not in fields:
                raise PackageError(f"{where}: member '{member.name}' is not a field of "
                                   f"struct {export.name}")


def _field_names(btf, t):
    """A struct's member names, those of anonymous members' fields included."""
    from ..btf import Struct, Union
    for member in t.members:
        if member.name:
            yield member.name
        else:
            _, inner = btf.resolve(member.type)
            if isinstance(inner, (Struct, Union)):
                yield from _field_names(btf, inner)
