"""The `bpf_object` field: an ELF object, zlib-compressed, then standard base64.

This is what eunomia-bpf's ecc writes (flate2 ZlibEncoder, then base64). For robustness a
base64 of an uncompressed ELF is accepted too (recognised by the ELF magic).
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
import zlib

from ..errors import PackageError

ELF_MAGIC = b"\x7fELF"
EM_BPF = 247
_WHITESPACE = re.compile(rb"\s+")
MAX_OBJECT_BYTES = 64 << 20     # inflated: the same bound as a whole package


def encode_bpf_object(elf: bytes) -> str:
    """ELF bytes -> the text stored in `bpf_object`."""
    return base64.b64encode(zlib.compress(bytes(elf), 9)).decode("ascii")


def check_elf(elf: bytes, where: str = "bpf_object") -> None:
    """Raises PackageError unless `elf` is a BPF ELF object."""
    if elf[:4] != ELF_MAGIC:
        raise PackageError(f"{where}: the object is not an ELF file "
                           f"(starts with {elf[:4]!r}, expected {ELF_MAGIC!r})")
    if len(elf) < 20:
        raise PackageError(f"{where}: the ELF object is truncated ({len(elf)} bytes)")
    byteorder = "<" if elf[5] == 1 else ">"
    (machine,) = struct.unpack_from(byteorder + "H", elf, 18)
    if machine != EM_BPF:
        raise PackageError(f"{where}: the ELF object is not a BPF object "
                           f"(e_machine {machine}, expected {EM_BPF})")


def decode_bpf_object(text: str, expected_size: int | None, where: str = "bpf_object") -> bytes:
    """The text of `bpf_object` -> ELF bytes, checked against `bpf_object_size`."""
    try:
        raw = base64.b64decode(_WHITESPACE.sub(b"", text.encode("ascii")), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise PackageError(f"{where}: not valid base64 ({exc})") from None
    if raw[:4] == ELF_MAGIC:
        elf = raw
    else:
        try:
            inflate = zlib.decompressobj()
            elf = inflate.decompress(raw, MAX_OBJECT_BYTES + 1)
        except zlib.error as exc:
            raise PackageError(f"{where}: not zlib-compressed data ({exc}); "
                               "truncated or corrupted package?") from None
        if len(elf) > MAX_OBJECT_BYTES:
            raise PackageError(f"{where}: the object inflates to more than "
                               f"{MAX_OBJECT_BYTES >> 20} MiB: not a BPF object")
        if not inflate.eof:
            raise PackageError(f"{where}: not zlib-compressed data (incomplete or truncated "
                               "stream); truncated or corrupted package?")
    if expected_size is not None and expected_size != len(elf):
        raise PackageError(f"bpf_object is {len(elf)} bytes but bpf_object_size says "
                           f"{expected_size} (truncated package?)")
    check_elf(elf, where)
    return elf
