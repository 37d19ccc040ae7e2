"""Small readers for the fields of a package document, with errors that name the path.

Every reader takes the JSON path of what it reads (e.g. "meta.bpf_skel.progs[0]") so a
broken package says exactly where it is broken.
"""

from __future__ import annotations

from typing import Any

from ..errors import PackageError

_MISSING = object()

_KIND_NAMES = {str: "a string", int: "an integer", bool: "true or false", dict: "an object",
               list: "a list", float: "a number"}


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {str: "a string", bool: "a boolean", int: "an integer", float: "a number",
            dict: "an object", list: "a list"}.get(type(value), type(value).__name__)


def expect_object(value: Any, where: str) -> dict:
    """`value` itself, checked to be a JSON object."""
    if not isinstance(value, dict):
        raise PackageError(f"{where}: expected an object, got {_type_name(value)}")
    return value


def check_kind(value: Any, kind: type, where: str) -> Any:
    """`value` itself, checked to be of `kind` (str, int, float, bool, dict or list;
    bool is no int, an int is a float)."""
    if kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise PackageError(f"{where}: expected {_KIND_NAMES[kind]}, got {_type_name(value)}")
    return value


def required(doc: dict, key: str, kind: type, where: str) -> Any:
    """doc[key], which must be present and of `kind`."""
    if key not in doc:
        raise PackageError(f"{where}: missing '{key}'")
    return check_kind(doc[key], kind, f"{where}.{key}")


def optional(doc: dict, key: str, kind: type | None, where: str, default: Any = None) -> Any:
    """doc[key] when present and not null (checked to be of `kind`), else `default`."""
    value = doc.get(key, _MISSING)
    if value is _MISSING or value is None:
        return default
    if kind is None:
        return value
    return check_kind(value, kind, f"{where}.{key}")


def text_value(value: Any, where: str) -> str:
    """A free-text value; numbers are accepted and kept as text (`@version 1`)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise PackageError(f"{where}: expected a string, got {_type_name(value)}")
    return str(value)


def extra_keys(doc: dict, known: tuple[str, ...]) -> dict:
    """The keys of `doc` this format does not define, kept to be written back."""
    return {k: v for k, v in doc.items() if k not in known}
