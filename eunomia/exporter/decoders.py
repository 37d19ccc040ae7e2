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

from typing import Any, Callable

from ..errors import ArgumentError, FlowControl
from ..output.filters import compile_pattern
from ..output.formats import formatter


class DecoderError(ArgumentError):
    """A decoder is configured wrongly."""


class Drop(FlowControl):
    """The event is dropped (a regexp did not match); counted by the caller."""


def plain_text(value: Any) -> str:
    """A decoded field as a label value: no JSON quotes, integers in decimal."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.hex()      # data (u8[N]): every byte, so distinct keys stay distinct
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(plain_text(v) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k}={plain_text(v)}" for k, v in value.items())
    return str(value)


def _string(_config: dict, _size: int) -> Callable:
    """Bytes (u8[N], or a list of byte values) read as text up to the first NUL."""
    def decode(value):
        if isinstance(value, list) and all(isinstance(v, int) for v in value):
            value = bytes(v & 0xFF for v in value)
        if isinstance(value, bytes):
            return value.split(b"\0", 1)[0].decode("utf-8", "replace")
        return plain_text(value)
    return decode


def _uint(_config: dict, size: int) -> Callable:
    mask = (1 << (8 * size)) - 1 if size in (1, 2, 4, 8) else (1 << 64) - 1

    def decode(value):
        return int(value) & mask
    return decode


def _registered(name: str) -> Callable[[dict, int], Callable]:
    """A decoder that is one of output.formats' (the registry ecli run shows fields with),
    its result a label text."""
    def make(_config: dict, size: int) -> Callable:
        show = formatter(name, size)
        return lambda value: plain_text(show(value))
    return make


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
        pattern = compile_pattern(source)
    except ValueError as exc:
        raise DecoderError(f"regexp {source[:200]!r}: {exc}") from None

    def decode(value):
        match = pattern.search(plain_text(value))
        if match is None:
            raise Drop
        return match.group(1) if pattern.groups else plain_text(value)
    return decode


def _container(part: str) -> Callable[[dict, int], Callable]:
    """container, pod, namespace, unit: what the node's container map says of a mount
    namespace (a field typed eunomia_mntns_t), or with `of: cgroup` of a cgroup id;
    "" for host processes."""
    def make(config: dict, _size: int) -> Callable:
        kind = config.get("of", "mntns")
        if kind not in ("mntns", "cgroup") or (part == "unit" and kind != "cgroup"):
            raise DecoderError(f"{part} reads a mount namespace (of: mntns) or a cgroup id "
                               "(of: cgroup); unit only a cgroup id")
        from ..containers import shared_map
        containers = shared_map()

        def decode(value):
            if kind == "mntns":
                found, unit = containers.by_mntns(int(value)), ""
            else:
                found, unit = containers.by_cgroup(int(value))
            if part == "unit":
                return unit
            return found.fields()[part] if found is not None else ""
        return decode
    return make


DECODERS: dict[str, Callable[[dict, int], Callable]] = {
    "container": _container("container"), "pod": _container("pod"),
    "namespace": _container("namespace"), "unit": _container("unit"),
    "string": _string, "uint": _uint, "ksym": _registered("ksym"),
    "errno": _registered("errno"), "syscall": _registered("syscall"),
    "static_map": _static_map, "regexp": _regexp, "inet_ip": _registered("ip"),
    "signal": _registered("signal"), "uid": _registered("uid"), "gid": _registered("gid"),
}


def decoder_chain(configs: list, field_size: int) -> Callable[[Any], str]:
    """One callable: value -> label text, through every configured decoder in order."""
    steps = []
    for config in configs:
        if isinstance(config, str):
            config = {"name": config}
        if not isinstance(config, dict) or not isinstance(config.get("name"), str) or \
                config["name"] not in DECODERS:
            raise DecoderError(f"unknown decoder {str(config)[:200]} (decoders: "
                               f"{', '.join(DECODERS)})")
        steps.append(DECODERS[config["name"]](config, field_size))
    if not steps:
        return plain_text

    def decode(value):
        for step in steps:
            value = step(value)
        return plain_text(value)
    return decode
