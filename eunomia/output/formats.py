"""Readable forms of raw field values, by type name: one registry for `ecli run` (table
and JSON), the library and the exporter's label decoders.

A field gets a format from its BTF typedef (`eunomia_errno_t` -> "errno"; the typedefs
are in eunomia/include/eunomia/types.bpf.h, which ecc puts on the include path), or from
`ecli run --format FIELD=TYPE`. Each format is a factory: size in bytes -> function(raw
value) -> readable value (a str, or an int where the number is the readable form).

    fmt = formatter("errno", 4)
    fmt(-2)        # 'ENOENT'
"""

from __future__ import annotations

import errno as _errno
import functools
import ipaddress
import os
import re
import signal as _signal
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TYPEDEF_PREFIX, TYPEDEF_SUFFIX = "eunomia_", "_t"


def _errno_name(_size: int) -> Callable:
    def show(value):
        number = abs(int(value))
        return _errno.errorcode.get(number, str(value)) if number else "0"
    return show


def _result(_size: int) -> Callable:
    """A syscall's result: a count or a descriptor as it is, a negative errno by name."""
    name = _errno_name(_size)

    def show(value):
        return name(value) if int(value) < 0 else int(value)
    return show


def _signal_name(_size: int) -> Callable:
    def show(value):
        try:
            return _signal.Signals(int(value)).name
        except ValueError:
            return str(value)
    return show


@functools.lru_cache(maxsize=1)
def syscall_names() -> dict[int, str]:
    """Syscall number -> name for this machine's architecture, from the kernel's UAPI
    header (linux-libc-dev); empty if the header is not installed."""
    headers = {"x86_64": ["x86_64-linux-gnu/asm/unistd_64.h", "asm/unistd_64.h"],
               "aarch64": ["asm-generic/unistd.h"], "riscv64": ["asm-generic/unistd.h"]}
    pattern = re.compile(r"#define\s+__NR(?:3264)?_(\w+)\s+(\d+)\b")
    for relative in headers.get(os.uname().machine, []):
        path = Path("/usr/include") / relative
        if path.exists():
            found = pattern.findall(path.read_text(errors="replace"))
            return {int(number): name for name, number in found}
    return {}


def _syscall_name(_size: int) -> Callable:
    names = syscall_names()

    def show(value):
        return names.get(int(value), str(value))
    return show


def _ksym(_size: int) -> Callable:
    from ..symbols import KernelSymbols
    symbols = KernelSymbols()

    def show(value):
        found = symbols.resolve(int(value))
        return found.name if found is not None else hex(int(value))
    return show


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


def ip_text(value: Any) -> str:
    """An IPv4 or IPv6 address from a u32 in network byte order (as read on a little
    endian machine), 4 or 16 bytes, or a list of byte values."""
    if isinstance(value, int):
        return str(ipaddress.IPv4Address(struct.pack("<I", value & 0xFFFFFFFF)))
    if isinstance(value, list):
        width = 4 if len(value) == 4 and any(v > 0xFF for v in value) else 1
        raw = b"".join(int(v).to_bytes(width, "little") for v in value)
    elif isinstance(value, (bytes, bytearray)):
        raw = bytes(value)
    elif isinstance(value, str) and len(value) in (8, 32) and _is_hex(value):
        raw = bytes.fromhex(value)                 # a byte array (unsigned char[N])
    elif isinstance(value, str):
        raw = value.encode("latin-1")
    else:
        raise TypeError(f"not an address: {type(value).__name__}")
    address = ipaddress.ip_address(raw[:4] if len(raw) == 4 else raw[:16])
    mapped = getattr(address, "ipv4_mapped", None)      # ::ffff:a.b.c.d is IPv4
    return str(mapped or address)


def _ip(_size: int) -> Callable:
    return ip_text


def _endpoint(_size: int) -> Callable:
    """A struct {addr; port} (eunomia_endpoint4_t / 6_t): "1.2.3.4:80", "[::1]:80"."""
    def show(value):
        if not isinstance(value, dict) or "addr" not in value or "port" not in value:
            raise TypeError("an endpoint is a struct of addr and port")
        address = ip_text(value["addr"])
        return f"[{address}]:{value['port']}" if ":" in address else f"{address}:{value['port']}"
    return show


def _timestamp(_size: int) -> Callable:
    """bpf_ktime_get_ns() (CLOCK_MONOTONIC) as wall-clock time."""
    offset = time.time() - time.monotonic()

    def show(value):
        wall = offset + int(value) / 1e9
        return time.strftime("%H:%M:%S", time.localtime(wall)) + f".{int(wall * 1e6) % 1000000:06d}"
    return show


def _duration(_size: int) -> Callable:
    def show(value):
        ns = int(value)
        for unit, scale in (("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000)):
            if abs(ns) >= scale:
                return f"{ns / scale:.3f}{unit}"
        return f"{ns}ns"
    return show


def _account(module: str, lookup: str, field: str) -> Callable:
    """uid -> user name, gid -> group name (the number when there is none)."""
    def factory(_size: int) -> Callable:
        import importlib
        find = getattr(importlib.import_module(module), lookup)

        @functools.lru_cache(maxsize=4096)
        def show(value):
            try:
                return getattr(find(int(value)), field)
            except KeyError:
                return str(value)
        return show
    return factory


def _cgroup(_size: int) -> Callable:
    """A cgroup id (bpf_get_current_cgroup_id: the inode of its cgroup v2 directory) as
    its path, "/system.slice/ssh.service"; the id when no directory has it."""
    from ..containers.procfs import cgroup2_root, cgroup_paths
    paths: dict[int, str] = {}

    def show(value):
        if int(value) not in paths:     # a cgroup made since the last look
            root = cgroup2_root()
            if root is not None:
                paths.update(cgroup_paths(root, 1 << 16))
        return paths.get(int(value), str(value))
    return show


def _mntns(_size: int) -> Callable:
    """A mount namespace's inode number as /proc/PID/ns/mnt names it: "mnt:[4026531841]"."""
    return lambda value: f"mnt:[{int(value)}]"


_user = _account("pwd", "getpwuid", "pw_name")
_group = _account("grp", "getgrgid", "gr_name")


def _hex(size: int) -> Callable:
    def show(value):
        if isinstance(value, int):
            return f"0x{value & ((1 << (8 * size)) - 1) if size else value:x}"
        if isinstance(value, list):
            return bytes(int(v) & 0xFF for v in value).hex()
        if isinstance(value, (bytes, bytearray)):
            return bytes(value).hex()
        return str(value)
    return show


def _text(_size: int) -> Callable:
    """A byte array that holds text, up to the first NUL: bytes or byte values (text
    stays as it is; a u8[N] field's hex is turned back into bytes by field_formats)."""
    def show(value):
        if isinstance(value, list):
            value = bytes(int(v) & 0xFF for v in value)
        if isinstance(value, (bytes, bytearray)):
            return bytes(value).partition(b"\0")[0].decode("utf-8", "replace")
        return str(value)
    return show


def _from_hex(show: Callable) -> Callable:
    """`show` for a u8[N] field, whose JSON-ready value is its bytes as hex."""
    def hex_first(value):
        if isinstance(value, str):
            try:
                value = bytes.fromhex(value)
            except ValueError:
                pass
        return show(value)
    return hex_first


class Stack(list):
    """Resolved frames ("symbol+0xoff"), innermost first; `folded` is root first, joined
    by ';' (flame graphs' collapsed form, and the table's cell)."""

    @property
    def folded(self) -> str:
        return ";".join(reversed(self))


def resolved_stack(addresses: list[int], pid: int | None = None) -> Stack:
    """Frames of return addresses, innermost first: kernel ones through kallsyms, user
    ones in process `pid` (addresses where it is gone)."""
    from ..errors import SymbolError
    from ..symbols import frames
    try:
        return Stack(str(frame) for frame in frames(addresses, pid=pid))
    except SymbolError:     # the process is gone: its frames stay addresses
        return Stack(str(frame) for frame in frames(addresses))


def no_stack(err: int) -> Stack:
    """What a stack helper's error shows as: "[no stack: EFAULT]"."""
    return Stack([f"[no stack: {_errno_name(4)(err)}]"])


def record_pid(record: dict | None) -> int | None:
    """The process a record is about: its tgid, else its pid field."""
    pid = None if not record else record.get("tgid", record.get("pid"))
    return pid if isinstance(pid, int) and not isinstance(pid, bool) else None


def _stack(kernel: bool) -> Callable:
    """kstack/ustack: a stack id (looked up in the package's stack trace map) or an array
    of return addresses, as frames; user frames are resolved in the record's process."""
    def factory(_size: int, stack_lookup: Callable[[int], list] | None = None) -> Callable:
        def show(value, record: dict | None = None):
            if isinstance(value, int):
                if value < 0:       # bpf_get_stackid's error: -EEXIST, -EFAULT, ...
                    return no_stack(value)
                if stack_lookup is None:
                    return value
                addresses = stack_lookup(value)
                if addresses is None:
                    return Stack(["[stack gone]"])
            elif isinstance(value, list):
                addresses = [int(a) for a in value if a]
            else:
                raise TypeError("a stack is an id or a list of addresses")
            return resolved_stack(addresses, None if kernel else record_pid(record))
        show.wants_record = True
        return show
    return factory


FORMATS: dict[str, Callable[..., Callable[[Any], Any]]] = {
    "ip": _ip, "endpoint": _endpoint, "errno": _errno_name, "ret": _result,
    "signal": _signal_name,
    "syscall": _syscall_name, "ksym": _ksym, "kstack": _stack(True), "ustack": _stack(False),
    "timestamp": _timestamp, "duration": _duration, "uid": _user, "gid": _group, "hex": _hex,
    "cgroup": _cgroup, "mntns": _mntns, "text": _text,
}
_CONTEXTUAL = {"kstack", "ustack"}      # factories that take the stack lookup
# typedef names of types.bpf.h that are not eunomia_<format>_t
_TYPEDEF_ALIASES = {"ipv4": "ip", "ipv6": "ip", "endpoint4": "endpoint",
                    "endpoint6": "endpoint"}


def formatter(name: str, size: int = 8, stack_lookup=None) -> Callable[[Any], Any]:
    """The function showing a value of `size` bytes in format `name`; `stack_lookup(id)`
    gives the addresses of a stack id (kstack, ustack)."""
    factory = FORMATS.get(name)
    if factory is None:
        from ..errors import ArgumentError
        raise ArgumentError(f"unknown format '{name}' (formats: {', '.join(FORMATS)})")
    return factory(size, stack_lookup) if name in _CONTEXTUAL else factory(size)


def format_of_type(c_type: str) -> str | None:
    """The format a field's C type names: eunomia_errno_t -> "errno"."""
    if c_type.startswith(TYPEDEF_PREFIX) and c_type.endswith(TYPEDEF_SUFFIX):
        name = c_type[len(TYPEDEF_PREFIX):-len(TYPEDEF_SUFFIX)]
        name = _TYPEDEF_ALIASES.get(name, name)
        return name if name in FORMATS else None
    return None


def format_names(codec, chosen: dict[str, str] | None = None) -> dict[str, str]:
    """{field: format name} for a record codec: from its typedefs, then `chosen` ({field:
    format}, --format) over them (names the record lacks are left to the caller)."""
    chosen = chosen or {}
    names = {}
    for name, c_type, _ in getattr(codec, "fields", ()):
        wanted = chosen.get(name) or format_of_type(c_type)
        if wanted:
            names[name] = wanted
    return names


def field_formats(codec, chosen: dict[str, str] | None = None,
                  stack_lookup=None) -> dict[str, Callable]:
    """{field: function} for a record codec, by format_names."""
    result = {}
    from ..decode.codecs import BytesCodec
    wanted_of = format_names(codec, chosen)
    for name, _, field in getattr(codec, "fields", ()):
        wanted = wanted_of.get(name)
        if wanted:
            show = formatter(wanted, getattr(field, "size", 8), stack_lookup)
            result[name] = _from_hex(show) if wanted == "text" and \
                isinstance(field, BytesCodec) else show
    return result


def member_formats(package) -> dict[str, dict[str, str]]:
    """{struct: {member: format}} that the package's export types carry (`/// @format`
    in the source, kept by ecc as the member's "format")."""
    found: dict[str, dict[str, str]] = {}
    for export in package.meta.export_types or []:
        for member in export.members:
            wanted = member.extra.get("format")
            if isinstance(wanted, str) and wanted in FORMATS:
                found.setdefault(export.name, {})[member.name] = wanted
    return found


def check_field_names(codecs, names, option: str) -> None:
    """ArgumentError when `names` (of --format or --fields) are in none of the records."""
    known = {name for codec in codecs for name, _, _ in getattr(codec, "fields", ())}
    for name in names:
        if name not in known:
            from ..errors import ArgumentError
            raise ArgumentError(f"{option} names no field '{name}' (the records' fields: "
                                f"{', '.join(sorted(known)) or 'none'})")


def readable(values: dict, formats: dict[str, Callable]) -> dict:
    """A copy of a record's JSON-ready values with formatted fields shown readably (a
    value a format cannot read is left as it is)."""
    if not formats:
        return values
    shown = dict(values)
    for name, show in formats.items():
        if name in shown:
            try:
                shown[name] = (show(shown[name], values) if getattr(show, "wants_record", False)
                               else show(shown[name]))
            except (TypeError, ValueError, OverflowError):
                pass
    return shown
