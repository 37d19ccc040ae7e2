"""A task's bounded log: every line gets a cursor; the oldest go first when full."""

from __future__ import annotations

import threading
import time
from collections import deque

from ..defaults import LOG_BYTES, LOG_ENTRIES
from ..valueclass import valueclass


@valueclass(frozen=True)
class LogEntry:
    cursor: int
    timestamp: float
    kind: str        # "event" (a table row or JSON line), "info", "error"
    text: str

    def to_dict(self) -> dict:
        return {"cursor": self.cursor, "timestamp": self.timestamp, "kind": self.kind,
                "text": self.text}


class TaskLog:
    """At most `max_entries` entries and `max_bytes` of text; what is pushed out is
    counted in `dropped`, never silently lost. Readers page with cursors."""

    def __init__(self, max_entries: int = LOG_ENTRIES, max_bytes: int = LOG_BYTES):
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self.dropped = 0
        self._entries: deque[LogEntry] = deque()
        self._bytes = 0
        self._next = 0
        self._lock = threading.Lock()
        self._grew = threading.Condition(self._lock)

    def add(self, kind: str, lines: list[str]) -> None:
        now = time.time()
        with self._lock:
            for text in lines:
                self._entries.append(LogEntry(self._next, now, kind, text))
                self._next += 1
                self._bytes += len(text)
            while self._entries and (len(self._entries) > self.max_entries
                                     or self._bytes > self.max_bytes):
                self._bytes -= len(self._entries.popleft().text)
                self.dropped += 1
            self._grew.notify_all()

    def read(self, cursor: int = 0, maximum: int = 1000, wait: float = 0.0) -> list[LogEntry]:
        """Entries with cursor >= `cursor`, oldest first, at most `maximum`; waits up to
        `wait` seconds for the first when there is none yet."""
        with self._lock:
            if wait > 0 and self._next <= cursor:
                self._grew.wait_for(lambda: self._next > cursor, timeout=wait)
            if not self._entries or self._next <= cursor:
                return []
            start = max(cursor - self._entries[0].cursor, 0)
            return [self._entries[i]
                    for i in range(start, min(start + maximum, len(self._entries)))]

    @property
    def next_cursor(self) -> int:
        return self._next
