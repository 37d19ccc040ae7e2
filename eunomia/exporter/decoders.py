"""Label decoders: a field's decoded value -> the label's text, chained per label.

    labels:
      - name: syscall
        from: id
        decoders: [{name: syscall}]
      - name: file
        from: fname
        decoders: [{name: regexp, regexp: "^/etc/(.*)"}]    # no match: the event is dropped

Decoders: string, uint, ksym, errno, syscall, static_map, regexp, inet_ip. Each takes the
previous one's output; the last output becomes plain text.
"""

from __future__ import annotations

import errno
import functools
import ipaddress
import platform
import re
import struct
from pathlib import Path
from typing import Any, Callable

from ..errors import ArgumentError, EunomiaError


class DecoderError(ArgumentError):
    """A decoder is configured wrongly."""


class Drop(EunomiaError):
    """The event is dropped (a regexp did not match); counted by the caller."""


def plain_text(value: Any) -> str:
    """A decoded field as a label value: no JSON quotes, integers in decimal."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.split(b"\0", 1)[0].decode("utf-8", "replace")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(plain_text(v) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k}={plain_text(v)}" for k, v in value.items())
    return str(value)


def _string(_config: dict, _size: int) -> Callable:
    def decode(value):
        if isinstance(value, list) and all(isinstance(v, int) for v in value):
            value = bytes(v & 0xFF for v in value)
        return plain_text(value)
    return decode


def _uint(_config: dict, size: int) -> Callable:
    mask = (1 << (8 * size)) - 1 if size in (1, 2, 4, 8) else (1 << 64) - 1

    def decode(value):
        return int(value) & mask
    return decode


def _ksym(_config: dict, _size: int) -> Callable:
    from ..symbols import KernelSymbols
    symbols = KernelSymbols()

    def decode(value):
        found = symbols.resolve(int(value))
        return found.name if found is not None else hex(int(value))
    return decode


def _errno(_config: dict, _size: int) -> Callable:
    def decode(value):
        number = abs(int(value))
        return errno.errorcode.get(number, str(value)) if number else "0"
    return decode


@functools.lru_cache(maxsize=1)
def syscall_names() -> dict[int, str]:
    """Syscall number -> name for this machine's architecture, from the kernel's UAPI
    header (linux-libc-dev); empty if the header is not installed."""
    headers = {"x86_64": ["x86_64-linux-gnu/asm/unistd_64.h", "asm/unistd_64.h"],
               "aarch64": ["asm-generic/unistd.h"], "riscv64": ["asm-generic/unistd.h"]}
    pattern = re.compile(r"#define\s+__NR(?:3264)?_(\w+)\s+(\d+)\b")
    for relative in headers.get(platform.machine(), []):
        path = Path("/usr/include") / relative
        if path.exists():
            found = pattern.findall(path.read_text(errors="replace"))
            return {int(number): name for name, number in found}
    return {}


def _syscall(_config: dict, _size: int) -> Callable:
    names = syscall_names()

    def decode(value):
        return names.get(int(value), str(value))
    return decode


def _static_map(config: dict, _size: int) -> Callable:
    table = config.get("static_map", config.get("map"))
    if not isinstance(table, dict):
        raise DecoderError("static_map needs a 'static_map' mapping of value -> text")
    table = {plain_text(k): plain_text(v) for k, v in table.items()}
    default = config.get("default")

    def decode(value):
        text = plain_text(value)
        if text in table:
            return table[text]
        return text if default is None else plain_text(default)
    return decode


def _regexp(config: dict, _size: int) -> Callable:
    source = config.get("regexp", config.get("pattern"))
    if not isinstance(source, str):
        raise DecoderError("regexp needs a 'regexp' pattern")
    try:
        pattern = re.compile(source)
    except re.error as exc:
        raise DecoderError(f"regexp {source!r}: {exc}") from None

    def decode(value):
        match = pattern.search(plain_text(value))
        if match is None:
            raise Drop
        return match.group(1) if pattern.groups else plain_text(value)
    return decode


def _inet_ip(_config: dict, _size: int) -> Callable:
    def decode(value):
        if isinstance(value, int):      # a __be32 read as a little-endian u32
            return str(ipaddress.IPv4Address(struct.pack("<I", value & 0xFFFFFFFF)))
        if isinstance(value, list):
            width = 4 if len(value) == 4 and any(v > 0xFF for v in value) else 1
            raw = b"".join(v.to_bytes(width, "little") for v in value)
        elif isinstance(value, (bytes, str)):
            raw = value if isinstance(value, bytes) else value.encode("latin-1")
        else:
            raise TypeError(f"inet_ip cannot read {type(value).__name__}")
        return str(ipaddress.ip_address(raw[:4] if len(raw) == 4 else raw[:16]))
    return decode


DECODERS: dict[str, Callable[[dict, int], Callable]] = {
    "string": _string, "uint": _uint, "ksym": _ksym, "errno": _errno,
    "syscall": _syscall, "static_map": _static_map, "regexp": _regexp,
    "inet_ip": _inet_ip,
}


def decoder_chain(configs: list, field_size: int) -> Callable[[Any], str]:
    """One callable: value -> label text, through every configured decoder in order."""
    steps = []
    for config in configs:
        if isinstance(config, str):
            config = {"name": config}
        if not isinstance(config, dict) or config.get("name") not in DECODERS:
            raise DecoderError(f"unknown decoder {config!r} (decoders: "
                               f"{', '.join(DECODERS)})")
        steps.append(DECODERS[config["name"]](config, field_size))
    if not steps:
        return plain_text

    def decode(value):
        for step in steps:
            value = step(value)
        return plain_text(value)
    return decode
