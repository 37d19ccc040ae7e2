"""BTF for kernels without /sys/kernel/btf/vmlinux: BTFHub's archive layout, and the `tar`
package kind of eunomia-bpf (`ecc --btfgen`).

An archive holds one BTF file per kernel at `<ID>/<VERSION_ID>/<arch>/<release>.btf` (ID
and VERSION_ID from /etc/os-release, arch and release from uname), as
aquasecurity/btfhub-archive lays them out; a `tar` package is a tar of package.json and
`btfhub-archive/<that layout>`, with each BTF cut down to what the program relocates
against (`bpftool gen min_core_btf`). Nothing here touches the kernel.
"""

from __future__ import annotations

import io
import os
import zlib
from pathlib import Path

from ..errors import PackageError
from ..files import read_bounded
from ..valueclass import valueclass

ARCHIVE_DIR = "btfhub-archive"
PACKAGE_MEMBER = "package.json"
_TAR_MAGIC = b"ustar"
_MAX_MEMBER_BYTES = 256 << 20
_MAX_PACKAGE_TAR_BYTES = 64 << 20   # what a tar package may expand to (as a package)
MAX_BTF_FILE_BYTES = 256 << 20     # a --btf file or archive as stored


def is_tar(content: bytes) -> bool:
    """Whether `content` is a (plain) tar archive."""
    return len(content) >= 262 and content[257:262] == _TAR_MAGIC


@valueclass(frozen=True)
class KernelId:
    """What picks a kernel's BTF in an archive."""

    os_id: str
    version_id: str
    machine: str
    release: str

    @classmethod
    def here(cls) -> KernelId:
        fields = _os_release()
        return cls(fields.get("ID", ""), fields.get("VERSION_ID", ""), os.uname().machine,
                   os.uname().release)

    @property
    def path(self) -> str:
        """The file's place in an archive: ID/VERSION_ID/arch/release.btf."""
        return f"{self.os_id}/{self.version_id}/{self.machine}/{self.release}.btf"

    def __str__(self) -> str:
        return f"{self.os_id} {self.version_id} {self.machine} {self.release}"


def _os_release() -> dict[str, str]:
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            text = Path(path).read_text()
        except OSError:
            continue
        fields = {}
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                fields[key.strip()] = value.strip().strip("\"'")
        return fields
    return {}


def pick(files: dict[str, bytes], kernel: KernelId, where: str) -> bytes:
    """The BTF of `kernel` among archive members {path: bytes}: at its layout path, else
    any `<release>.btf`. PackageError listing what there is otherwise."""
    for name, data in files.items():
        if name.endswith("/" + kernel.path) or name == kernel.path:
            return data
    for name, data in files.items():
        if Path(name).name == f"{kernel.release}.btf":
            return data
    known = ", ".join(sorted(files)[:8]) or "none"
    raise PackageError(f"{where} has no BTF for this kernel ({kernel}; looked for "
                       f"{kernel.path}); it has: {known}")


def _archive_errors() -> tuple:
    """What a damaged archive raises. tarfile and lzma load only for a tar: a start
    from package.json never pays for them."""
    import lzma
    import tarfile
    return (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError)


def _tar_files(content: bytes, keep, limit: int):
    """(archive path, bytes) of each regular member whose path `keep(path)` accepts,
    reading the archive (compressed or not) no further than `limit` bytes of expanded
    content: a small compressed tar cannot make the reader hold or walk gigabytes."""
    import tarfile
    with tarfile.open(fileobj=io.BytesIO(content)) as archive:
        while True:
            member = archive.next()
            if member is None:
                return
            if member.offset_data + max(member.size, 0) > limit:
                raise PackageError(f"expands to more than {limit >> 20} MiB")
            name = os.path.normpath(member.name).lstrip("./")
            if member.isfile() and member.size <= _MAX_MEMBER_BYTES and keep(name):
                yield name, archive.extractfile(member).read()


def read_tar(content: bytes, where: str) -> tuple[bytes, dict[str, bytes]]:
    """(package.json, {archive path: BTF}) of a tar package."""
    package, files = None, {}
    try:
        for name, data in _tar_files(content, lambda n: n == PACKAGE_MEMBER or
                                     n.endswith(".btf"), _MAX_PACKAGE_TAR_BYTES):
            if name == PACKAGE_MEMBER:
                package = data
            else:
                files[name] = data
    except PackageError as exc:
        raise PackageError(f"{where}: {exc}") from None
    except _archive_errors():
        raise PackageError(f"{where}: not a tar package (a tar of package.json and "
                           f"{ARCHIVE_DIR}/, as `ecc --btfgen` writes)") from None
    if package is None:
        raise PackageError(f"{where}: a tar package must hold {PACKAGE_MEMBER}")
    return package, files


def btf_from(path: str, kernel: KernelId | None = None) -> bytes:
    """The BTF `--btf PATH` means: the file itself, or the one for this kernel in a
    directory laid out as BTFHub's archive, or in a tar (.tar, .tar.gz, .tar.xz) of one
    (a `tar` package included)."""
    kernel = kernel or KernelId.here()
    target = Path(path)
    if target.is_dir():
        exact = target / kernel.path
        if exact.is_file():
            return _read(exact)
        found = sorted(target.rglob(f"{kernel.release}.btf"))
        if found:
            return _read(found[0])
        raise PackageError(f"{path} has no BTF for this kernel ({kernel}; looked for "
                           f"{kernel.path})")
    content = _read(target)
    if content[:4] == b"\x9f\xeb\x01\x00" or content[:2] == b"\xeb\x9f":
        return content      # a raw BTF blob (either byte order)
    release = f"{kernel.release}.btf"
    try:
        # only this kernel's files are kept: an archive holds thousands of kernels
        files = dict(_tar_files(content, lambda n: n.endswith(kernel.path) or
                                Path(n).name == release, 16 * MAX_BTF_FILE_BYTES))
    except PackageError as exc:
        raise PackageError(f"{path}: {exc}") from None
    except _archive_errors():
        raise PackageError(f"{path}: neither a BTF file nor an archive of them") from None
    return pick(files, kernel, path)


def _read(path: Path) -> bytes:
    try:
        return read_bounded(path, MAX_BTF_FILE_BYTES)
    except OSError as exc:
        raise PackageError(f"cannot read {path}: {exc.strerror or exc}") from None


def write_tar_package(package_json: bytes, btf_files: dict[str, bytes], out: Path) -> Path:
    """A `tar` package: package.json and btfhub-archive/<path> for each BTF."""
    import tarfile
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    with tarfile.open(tmp, "w") as archive:
        for name, data in [(PACKAGE_MEMBER, package_json),
                           *((f"{ARCHIVE_DIR}/{path}", blob)
                             for path, blob in sorted(btf_files.items()))]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    os.replace(tmp, out)
    return out
