"""The library's loggers, made on their first message.

Importing logging (with traceback, linecache, tokenize and string) costs ~5 ms, a tenth
of `ecli run`'s start, while most runs never log a line. So the library's modules hold a
`Logger`, which imports logging and makes the real logger (with a NullHandler: a library
is silent unless the application logs) only when a message comes.

An application that configures logging may do it at once (it imports logging), or hand
its configuration to `configure_on_first_use`: it then runs just before the first
message of any of these loggers, or at once if logging is in use already.
"""

from __future__ import annotations

import sys
import threading

_pending: list = []     # configurations to run before the first message
_lock = threading.Lock()    # held while they run: a second thread's message waits

# logging's levels, for a caller that does not import it
DEBUG, INFO, WARNING, ERROR, CRITICAL = 10, 20, 30, 40, 50


def configure_on_first_use(configure) -> None:
    """Runs `configure()` before the library's first message; at once when logging is
    imported already (someone may log through it directly)."""
    with _lock:
        if "logging" not in sys.modules:
            _pending.append(configure)
            return
    configure()


def in_use() -> bool:
    """Whether logging has been imported: before that, nobody can listen."""
    return "logging" in sys.modules


def _configured():
    """The logging module, with the pending configurations applied."""
    import logging
    if _pending:
        with _lock:
            while _pending:
                _pending[0]()
                _pending.pop(0)
    return logging


class Logger:
    """logging.getLogger(name) when first used; the calls the library makes."""

    __slots__ = ("_log", "name")

    def __init__(self, name: str):
        self.name = name
        self._log = None

    def real(self):
        """The logging.Logger itself."""
        if self._log is None:
            logging = _configured()
            log = logging.getLogger(self.name)
            if not any(isinstance(h, logging.NullHandler) for h in log.handlers):
                log.addHandler(logging.NullHandler())
            self._log = log
        return self._log

    def debug(self, msg, *args, **kwargs) -> None:
        self.real().debug(msg, *args, stacklevel=2, **kwargs)

    def info(self, msg, *args, **kwargs) -> None:
        self.real().info(msg, *args, stacklevel=2, **kwargs)

    def warning(self, msg, *args, **kwargs) -> None:
        self.real().warning(msg, *args, stacklevel=2, **kwargs)

    def error(self, msg, *args, **kwargs) -> None:
        self.real().error(msg, *args, stacklevel=2, **kwargs)

    def log(self, level: int, msg, *args, **kwargs) -> None:
        self.real().log(level, msg, *args, stacklevel=2, **kwargs)

    def isEnabledFor(self, level: int) -> bool:
        return self.real().isEnabledFor(level)
