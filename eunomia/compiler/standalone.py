"""`ecc --standalone`: one executable file that runs a package as `ecli run` would.

The file is a Python zip application (stdlib `zipapp`, PEP 441): a `#!/usr/bin/env
python3` line, then a zip of eunomia's own modules and the package. The target needs only
python3 and libbpf: the run path imports neither pyelftools nor PyYAML (a JSON package),
and the zip's modules come before any installed eunomia on sys.path.
"""

from __future__ import annotations

import io
import os
import stat
import zipapp
import zipfile
from pathlib import Path

from ..errors import CompileError

# The zip's __main__.py (text written into the tool: the compiler itself imports no CLI)
_MAIN = '''\
# Runs the package embedded in this file, as `ecli run package.json ARGS` would.
import importlib
import pkgutil
import sys

tool = importlib.import_module("eunomia.cli.standalone")
sys.exit(tool.run(pkgutil.get_data("eunomia_tool", "package.json"), {name!r}))
'''
_SKIPPED = ("__pycache__",)


def write_standalone(package_json: bytes, name: str, path: Path) -> Path:
    """Writes the executable at `path` (replacing what is there) and returns it."""
    root = Path(__file__).resolve().parents[1]          # the eunomia package
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for source in sorted(root.rglob("*")):
            relative = source.relative_to(root.parent)
            if source.is_dir() or any(part in _SKIPPED for part in relative.parts) or \
                    source.suffix not in (".py", ".json"):
                continue
            archive.write(source, str(relative))
        archive.writestr("eunomia_tool/__init__.py", "")
        archive.writestr("eunomia_tool/package.json", package_json)
        archive.writestr("__main__.py", _MAIN.format(name=name))
    buffer.seek(0)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        zipapp.create_archive(buffer, str(tmp), interpreter="/usr/bin/env python3")
        os.chmod(tmp, os.stat(tmp).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        os.replace(tmp, path)
    except OSError as exc:
        raise CompileError(f"cannot write the standalone tool {path}: "
                           f"{exc.strerror or exc}") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
