"""GET /task/{id}/events: a task's log as Server-Sent Events, so scripts and the
dashboard follow a task without polling.

    curl -N -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8527/task/1/events

Each entry is one event: `id:` its cursor, `event:` its kind (event, info, error),
`data:` the entry as JSON. Reconnecting with `Last-Event-ID` (or `?cursor=`) resumes
after it; entries the bounded log dropped meanwhile are announced as `event: dropped`.
`event: end` follows the last entry of a stopped task. A comment every 15 s keeps
proxies from closing an idle stream.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import weakref

from fastapi import Header, Query
from fastapi.responses import StreamingResponse

from ..web import ERRORS_DOC
from .tasks import TaskLimitError, TaskManager

MAX_STREAMS = 16            # open at once (each polls its task's log on the event loop)
KEEPALIVE_S = 15.0
POLL_S = 0.1                # how often a stream looks for new entries
BATCH = 500

_STREAM_DOC = {200: {"description": "text/event-stream: one SSE event per log entry "
                                    "(`id`: cursor, `event`: kind, `data`: the entry as "
                                    "JSON), then `event: end` once a stopped task is read",
                     "content": {"text/event-stream": {"schema": {"type": "string"}}}},
               **ERRORS_DOC}


def _event(kind: str, data: dict, cursor: int | None = None) -> bytes:
    head = f"id: {cursor}\n" if cursor is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data)}\n\n".encode()


class _Slot:
    """One of the MAX_STREAMS streams, given back exactly once: when the stream ends, or
    when a stream that never started (the client left at once) is collected."""

    def __init__(self, counter: list, lock: threading.Lock):
        self._counter, self._lock, self._held = counter, lock, True

    def release(self) -> None:
        with self._lock:
            if self._held:
                self._held = False
                self._counter[0] -= 1


def add_event_stream(app, tasks: TaskManager, auth) -> None:
    open_streams = [0]
    lock = threading.Lock()

    @app.get("/task/{task_id}/events", dependencies=auth, responses=_STREAM_DOC,
             response_class=StreamingResponse)
    async def task_events(task_id: int, cursor: int = Query(0, ge=0, le=1 << 62),
                    last_event_id: str | None = Header(None)):
        """Follow a task's log as Server-Sent Events (see the module's description)."""
        task = tasks.get(task_id)
        if last_event_id and last_event_id.isascii() and last_event_id.isdigit() and \
                len(last_event_id) <= 18:
            cursor = int(last_event_id) + 1
        with lock:
            if open_streams[0] >= MAX_STREAMS:
                raise TaskLimitError(f"{MAX_STREAMS} event streams are open already: "
                                     "close one")
            open_streams[0] += 1
        slot = _Slot(open_streams, lock)

        # async: a stream waits on the event loop, never in a worker thread, and a client
        # that leaves cancels it at its next wait, which gives the slot back at once
        async def entries():
            position, idle_since = cursor, time.monotonic()
            try:
                yield b"retry: 2000\n\n"
                while True:
                    finished = task.finished
                    batch = task.log.read(position, BATCH)
                    if batch and batch[0].cursor > position:
                        yield _event("dropped", {"from": position, "to": batch[0].cursor})
                    for entry in batch:
                        yield _event(entry.kind, entry.to_dict(), entry.cursor)
                    if batch:
                        position, idle_since = batch[-1].cursor + 1, time.monotonic()
                    elif finished:
                        yield _event("end", {"status": task.status.value})
                        return
                    else:
                        if time.monotonic() - idle_since > KEEPALIVE_S:
                            yield b": keepalive\n\n"
                            idle_since = time.monotonic()
                        await asyncio.sleep(POLL_S)
            finally:
                slot.release()

        stream = entries()
        weakref.finalize(stream, slot.release)     # a stream that never starts
        return StreamingResponse(stream, media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store",
                                          "X-Accel-Buffering": "no"})
