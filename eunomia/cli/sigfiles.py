"""Signature files beside packages (`ecli sign --key KEY FILE` writes FILE.sig), sent
along by `ecli client start` and `ecli fleet apply` to servers that run only signed code."""

from __future__ import annotations

from pathlib import Path

from ..errors import ArgumentError

SIGNATURE_HELP = ("the package's signature for servers that run only signed code "
                  "(default: PACKAGE.sig beside the file, written by `ecli sign --key KEY "
                  "PACKAGE`)")


def read_signature(source: str, given: str | None) -> str | None:
    """The signature to send along with package file `source`: the file `given`, else
    SOURCE.sig when there is one."""
    from ..files import read_text_bounded
    if source != "-" and Path(source).is_dir():      # the package file it holds
        source = str(Path(source) / "package.json")
    path = given or (f"{source}.sig" if source != "-" else None)
    if path is None or (given is None and not Path(path).is_file()):
        return None
    try:
        return read_text_bounded(path, 4096).strip()
    except OSError as exc:
        raise ArgumentError(f"cannot read the signature {path}: {exc.strerror}") from None
