"""Reading a file named by a user or a peer: a regular file only, and at most a bound.

A FIFO would block the reader forever, a device (/dev/zero) never ends, and a sparse
file can claim gigabytes: each is refused with one line before any of it is read.
"""

from __future__ import annotations

import os
import stat

from .errors import EunomiaError

MiB = 1024 * 1024


class FileRefused(EunomiaError, OSError):
    """The file is not one to read: not a regular file, or larger than its bound (an
    OSError too, so callers' `except OSError` turn it into their own one line)."""

    def __init__(self, path, reason: str):
        super().__init__(reason)
        self.filename = str(path)
        self.strerror = reason

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"


def read_bounded(path: str | os.PathLike, limit: int) -> bytes:
    """The bytes of the regular file at `path`, refused (FileRefused) when it is a FIFO,
    socket or device, or larger than `limit` bytes; other OSErrors as open() gives them."""
    # O_NONBLOCK: opening a FIFO with no writer returns at once instead of waiting
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise FileRefused(path, "is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused(path, "not a regular file (a FIFO, socket or device)")
        if info.st_size > limit:
            raise FileRefused(path, f"larger than {_size(limit)} ({_size(info.st_size)})")
        os.set_blocking(fd, True)
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(limit + 1 - size, 4 * MiB))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:        # it grew while being read
            raise FileRefused(path, f"larger than {_size(limit)}")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text_bounded(path: str | os.PathLike, limit: int) -> str:
    """read_bounded() decoded as UTF-8; UnicodeDecodeError is a FileRefused too."""
    data = read_bounded(path, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileRefused(path, f"not UTF-8 text (byte {exc.start})") from None


def _size(count: int) -> str:
    return f"{count / MiB:g} MiB" if count >= MiB else f"{count} bytes"
