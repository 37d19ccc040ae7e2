"""One small hierarchy of errors: every failure the library reports is an EunomiaError.

The library raises these and never prints or exits; the command line turns them into one
line on stderr and exit code 1.
"""

from __future__ import annotations

import errno as _errno
import os


class EunomiaError(Exception):
    """Base of every error raised by eunomia."""


class FlowControl(Exception):
    """Not an error: a signal that ends a step early on purpose (help was asked for, a
    stop abandoned the rest, an exporter decoder dropped an event). Never an
    EunomiaError, so `except EunomiaError` never swallows one by accident."""


class HelpRequested(FlowControl):
    """`--help` was given: `text` is the help to show (the caller prints it)."""

    def __init__(self, text: str):
        super().__init__("help requested")
        self.text = text


class PackageError(EunomiaError):
    """A package is broken, truncated, or does not match the format."""


class SourceError(PackageError):
    """A package could not be read from where it was said to be (file, URL, stdin)."""


class RegistryError(SourceError):
    """An OCI registry could not be reached, refused a request, or sent something else
    than what was asked for."""


class RegistryAuthError(RegistryError):
    """The registry wants credentials, or refused the ones given."""


class ImageNotFoundError(RegistryError):
    """No such repository, tag or digest (in the registry, or in the local cache)."""


class IntegrityError(RegistryError):
    """Content does not match its digest or size: tampered with or truncated."""


class SignatureError(RegistryError):
    """No signature by the given key, or a signature that does not verify."""


class CompileError(EunomiaError):
    """ecc could not build a package; `diagnostics` holds the compiler's own output."""

    def __init__(self, message: str, diagnostics: str = ""):
        super().__init__(message)
        self.diagnostics = diagnostics


class BTFError(EunomiaError):
    """BTF data is malformed, or a type the caller asked for is missing."""


class DecodeError(EunomiaError):
    """Bytes could not be turned into values (or values into bytes) for a BTF type."""


class ArgumentError(EunomiaError):
    """A value given for a program's global variable (a flag) is not acceptable."""


class SymbolError(EunomiaError):
    """Symbols can't be read: kallsyms hidden, a process gone, a file unreadable."""


class NotSupportedError(EunomiaError):
    """The running kernel lacks a feature; `feature` names it, `hint` says what to use."""

    def __init__(self, message: str, feature: str = "", hint: str = ""):
        super().__init__(message + (f"; {hint}" if hint else ""))
        self.feature = feature
        self.hint = hint


class LibbpfError(EunomiaError):
    """A libbpf or bpf(2) call failed; `errno` keeps the error number."""

    def __init__(self, message: str, errno: int | None = None):
        if errno:
            name = _errno.errorcode.get(errno, str(errno))
            message = f"{message}: {os.strerror(errno)} ({name})"
        super().__init__(message)
        self.errno = errno


class LoadError(LibbpfError):
    """A BPF object or program could not be loaded into the kernel."""


class VerifierError(LoadError):
    """The kernel verifier rejected a program; `log` holds the verifier's lines."""

    def __init__(self, message: str, errno: int | None = None, program: str = "",
                 log: list[str] | None = None):
        super().__init__(message, errno)
        self.program = program
        self.log = list(log or [])


class AttachError(LibbpfError):
    """A program could not be attached to its hook."""

    def __init__(self, message: str, errno: int | None = None, program: str = ""):
        super().__init__(message, errno)
        self.program = program


class MapError(LibbpfError):
    """A map operation failed (other than a missing key, which is KeyError)."""


class PermissionDeniedError(LibbpfError):
    """The kernel refused for lack of privilege (not root, or lockdown)."""


def validation_line(errors, whole: str = "the value") -> str:
    """pydantic's first complaint (a ValidationError's errors()) as one line: where,
    then what. `whole` names the document when the complaint is about all of it."""
    if not errors:
        return f"{whole} is not valid"
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
    kind = first.get("type", "")
    if kind == "json_invalid":
        return f"{whole} is not JSON: {first.get('ctx', {}).get('error', first['msg'])}"
    if kind == "extra_forbidden":
        return f"unknown field '{where}'"
    if kind == "missing":
        return f"'{where}' is required"
    if kind in _EXPECTED:
        return f"{where or whole}: expected {_EXPECTED[kind]}, got " \
               f"{_kind_of(first.get('input'))}"
    message = str(first.get("msg", "not valid")).removeprefix("Value error, ")
    return f"{where or whole}: {message}"


# pydantic's error types for a value of the wrong kind -> what was expected
_EXPECTED = {"string_type": "a string", "int_type": "an integer", "bool_type": "true or false",
             "float_type": "a number", "list_type": "a list", "dict_type": "an object",
             "model_type": "an object", "model_attributes_type": "an object"}


def _kind_of(value) -> str:
    if value is None:
        return "null"
    return {str: "a string", bool: "a boolean", int: "an integer", float: "a number",
            dict: "an object", list: "a list"}.get(type(value), type(value).__name__)
