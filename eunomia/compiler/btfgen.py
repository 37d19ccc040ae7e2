"""`ecc --btfgen ARCHIVE_DIR`: eunomia-bpf's `tar` package, for kernels without BTF.

For every kernel BTF in ARCHIVE_DIR (BTFHub's layout: ID/VERSION_ID/arch/release.btf,
plain or .btf.tar.xz), `bpftool gen min_core_btf` keeps only the types the program
relocates against (a few KB instead of several MB); the package and those files go into
one tar (`<name>.tar`) that `ecli run` picks the running kernel's BTF from.
"""

from __future__ import annotations

import subprocess
import tarfile
import tempfile
from pathlib import Path

from ..errors import CompileError
from ..package.btfarchive import write_tar_package


def kernel_btf_files(archive_dir: Path) -> list[tuple[str, Path | None, Path]]:
    """(path in the package's archive, its .tar.xz or None, the file) for every kernel
    BTF under `archive_dir`."""
    found = []
    for path in sorted(archive_dir.rglob("*")):
        if path.is_file() and path.name.endswith(".btf"):
            found.append((str(path.relative_to(archive_dir)), None, path))
        elif path.is_file() and path.name.endswith(".btf.tar.xz"):
            relative = str(path.relative_to(archive_dir))[:-len(".tar.xz")]
            found.append((relative, path, path))
    return found


def min_core_btf(bpftool: str, kernel_btf: Path, obj: Path, out: Path) -> bytes:
    result = subprocess.run([bpftool, "gen", "min_core_btf", str(kernel_btf), str(out),
                             str(obj)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise CompileError(f"bpftool gen min_core_btf failed for {kernel_btf} (exit "
                           f"{result.returncode})", diagnostics=result.stderr)
    return out.read_bytes()


def _unpacked(packed: Path, into: Path) -> Path:
    """The .btf inside one of BTFHub's .btf.tar.xz files."""
    try:
        with tarfile.open(packed) as archive:
            member = next((m for m in archive if m.isfile() and m.name.endswith(".btf")), None)
            if member is None:
                raise CompileError(f"{packed} holds no .btf file")
            target = into / Path(member.name).name
            target.write_bytes(archive.extractfile(member).read())
            return target
    except (tarfile.TarError, OSError) as exc:
        raise CompileError(f"cannot read {packed}: {exc}") from None


def write_btfgen_package(package_json: bytes, obj: Path, archive_dir: Path, bpftool: str,
                         out: Path) -> tuple[Path, int]:
    """Writes the tar package; returns its path and how many kernels it covers."""
    if not archive_dir.is_dir():
        raise CompileError(f"--btfgen: {archive_dir} is not a directory (BTFHub's archive: "
                           "ID/VERSION_ID/arch/release.btf)")
    files = kernel_btf_files(archive_dir)
    if not files:
        raise CompileError(f"--btfgen: no kernel BTF (*.btf or *.btf.tar.xz) under "
                           f"{archive_dir}")
    minimal = {}
    with tempfile.TemporaryDirectory(prefix="ecc-btfgen-") as tmp:
        for index, (relative, packed, path) in enumerate(files):
            work = Path(tmp) / str(index)
            work.mkdir()
            source = _unpacked(packed, work) if packed is not None else path
            minimal[relative] = min_core_btf(bpftool, source, obj, work / "min.btf")
    return write_tar_package(package_json, minimal, out), len(minimal)
