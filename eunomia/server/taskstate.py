"""`ecli server --state-dir DIR`: the tasks clients started, kept on disk so that a
server that restarts, or crashed, starts them again.

One file per task, DIR/task-ID.json, written atomically (a temporary file, then a
rename), holding the start request as the client sent it (the package inline, or the
URL or image it named, its flags and signature) and whether it is paused. A stop through
the API removes the file; a server's own shutdown keeps it. Fleet tasks are not kept:
etcd is their state, and an agent starts them again from there.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from ..errors import ArgumentError
from ..files import read_text_bounded
from ..package.package import write_atomically
from ..valueclass import fields
from .tasks import StartRequest

_FILE = re.compile(r"^task-(\d{1,9})\.json$")
MAX_STATE_BYTES = 96 << 20          # a 64 MiB package as base64, and its fields


class TaskState:
    """The files of one state directory (created 0700: it holds code the server runs)."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(self.directory, 0o700)
        except OSError as exc:
            raise ArgumentError(f"--state-dir {directory}: {exc.strerror or exc}") from None
        if not os.access(self.directory, os.W_OK):
            raise ArgumentError(f"--state-dir {directory}: not writable")

    def _path(self, task_id: int) -> Path:
        return self.directory / f"task-{task_id}.json"

    def save(self, task_id: int, request: StartRequest, paused: bool = False) -> None:
        doc = {"id": task_id, "paused": paused,
               "request": {f.name: getattr(request, f.name) for f in fields(request)
                           if f.name != "replace" and getattr(request, f.name) is not None}}
        self._write(task_id, doc)

    def _write(self, task_id: int, doc: dict) -> None:
        write_atomically(self._path(task_id), json.dumps(doc).encode())
        os.chmod(self._path(task_id), 0o600)

    def set_paused(self, task_id: int, paused: bool) -> None:
        path = self._path(task_id)
        if path.exists():
            doc = json.loads(read_text_bounded(path, MAX_STATE_BYTES))
            doc["paused"] = paused
            self._write(task_id, doc)

    def remove(self, task_id: int) -> None:
        try:
            self._path(task_id).unlink()
        except FileNotFoundError:
            pass

    def saved(self) -> list[tuple[int, StartRequest | None, bool, str]]:
        """(id, request, paused, problem) of each file, oldest id first; a file that
        cannot be read gives request None and the problem in words."""
        out = []
        for path in sorted(self.directory.iterdir(), key=lambda p: p.name):
            match = _FILE.match(path.name)
            if not match:
                continue
            task_id = int(match.group(1))
            if path != self._path(task_id):
                continue        # task-01.json: not a name this server writes
            try:
                doc = json.loads(read_text_bounded(path, MAX_STATE_BYTES))
                known = {f.name for f in fields(StartRequest)}
                request = StartRequest(**{k: v for k, v in doc["request"].items()
                                          if k in known})
                if not isinstance(request.extra_args, list) or \
                        not all(isinstance(a, str) for a in request.extra_args):
                    raise TypeError("extra_args")
                out.append((task_id, request, bool(doc.get("paused")), ""))
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
                out.append((task_id, None, False,
                            f"cannot read its saved state {path}: {type(exc).__name__}"))
        return sorted(out, key=lambda item: item[0])
