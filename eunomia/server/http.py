"""The HTTP API (eunomia-bpf's server routes) on FastAPI; the OpenAPI document at
GET /openapi.json is generated from the models below.

Auth: when the server has a token every route but /health, /openapi.json and the
dashboard's page and assets (which carry no data) needs `Authorization: Bearer TOKEN`
(compared in constant time); without a token the server only ever listens on loopback
(checked by `check_bind`). Either way, requests from web pages of other sites (another
Origin, a Host that is not this machine, a body that is not application/json) are refused
before any handler runs (web.CrossSiteGuard)."""

from __future__ import annotations

import asyncio
import time

from fastapi import Depends

from .. import __version__, defaults
from ..errors import SignatureError
from ..web import ERRORS_DOC, ServerConfigError, WebService, check_bind, json_app, require_token
from .dashboard import add_dashboard
from .models import (
    FleetView,
    Health,
    LogQuery,
    LogReply,
    MapTables,
    Samples,
    StartBody,
    Started,
    TaskDetail,
    TaskList,
    TaskRef,
    TaskSummary,
)
from .stream import add_event_stream
from .tasks import StartRequest, TaskLimitError, TaskManager, UnknownTaskError

DEFAULT_ADDR, DEFAULT_PORT = defaults.SERVER_ADDR, defaults.SERVER_PORT
DEFAULT_BODY_LIMIT = defaults.BODY_LIMIT
LONG_POLL_STEP_S = 0.05     # how often a waiting POST /log looks for new entries


def api(tasks: TaskManager, token: str | None, body_limit: int, fleet=None,
        fleet_model=FleetView):
    """The FastAPI app of `ecli server` over `tasks`; `fleet()`, when given, is what
    GET /fleet shows (the agent's view of its fleet, a `fleet_model`)."""
    app = json_app("eunomia server", __version__, body_limit,
                   {UnknownTaskError: 404, TaskLimitError: 429, SignatureError: 403}, token)
    auth = [Depends(require_token(token))]

    # async: on the event loop, never queued behind the worker threads
    @app.get("/health", response_model=Health)
    async def health():
        return {"status": "ok"}

    @app.get("/task", response_model=TaskList, dependencies=auth, responses=ERRORS_DOC)
    def list_tasks():
        return {"tasks": tasks.list()}

    @app.post("/task", response_model=Started, response_model_exclude_none=True,
              dependencies=auth, responses=ERRORS_DOC)
    def start_task(body: StartBody):
        request = StartRequest(body.program_data_buf, body.program_type, body.program_name,
                               list(body.extra_args), body.export_json, body.replace,
                               body.program_ref, body.program_signature)
        task = tasks.start(request)
        return Started(id=task.id, name=task.name, status=task.status,
                       replaced=body.replace)

    def task_action(path: str, act):
        """POST path {"id": N}: act(id) (the manager's, which keeps --state-dir in step),
        then the task's summary."""
        @app.post(path, response_model=TaskSummary, dependencies=auth, responses=ERRORS_DOC,
                  name=f"{path[1:]}_task")
        def action(body: TaskRef):
            return act(body.id).summary()

    task_action("/stop", tasks.stop)
    task_action("/pause", tasks.pause)
    task_action("/resume", tasks.resume)

    @app.post("/log", response_model=LogReply, dependencies=auth, responses=ERRORS_DOC)
    async def read_log(body: LogQuery):
        # a long poll waits on the event loop, not in a worker thread: any number of them
        # leaves the pool free for /health and /task
        task = tasks.get(body.id)
        deadline = time.monotonic() + body.wait_ms / 1000
        while task.log.next_cursor <= body.log_cursor and time.monotonic() < deadline:
            await asyncio.sleep(LONG_POLL_STEP_S)
        entries = task.log.read(body.log_cursor, body.maximum_count)
        following = entries[-1].cursor + 1 if entries else body.log_cursor
        return {"id": task.id, "status": task.status, "next_cursor": following,
                "dropped": task.log.dropped, "log": [e.to_dict() for e in entries]}

    @app.get("/task/{task_id}", response_model=TaskDetail, dependencies=auth,
             responses=ERRORS_DOC)
    def task_detail(task_id: int):
        return tasks.get(task_id).details()

    @app.get("/task/{task_id}/samples", response_model=Samples, dependencies=auth,
             responses=ERRORS_DOC)
    def task_samples(task_id: int):
        return {"samples": tasks.get(task_id).samples()}

    @app.get("/task/{task_id}/maps", response_model=MapTables, dependencies=auth,
             responses=ERRORS_DOC)
    def task_maps(task_id: int):
        return {"maps": tasks.get(task_id).maps()}

    add_event_stream(app, tasks, auth)

    @app.get("/fleet", response_model=fleet_model, dependencies=auth, responses=ERRORS_DOC)
    def fleet_view():
        if fleet is None:
            raise UnknownTaskError("this server is not a fleet agent (ecli server --fleet)")
        return fleet()

    add_dashboard(app)
    return app


class Server(WebService):
    """The server and its tasks; shutdown_all() stops the server, then every task."""

    def __init__(self, addr: str = DEFAULT_ADDR, port: int = DEFAULT_PORT,
                 token: str | None = None, tasks: TaskManager | None = None,
                 body_limit: int = DEFAULT_BODY_LIMIT, tls: tuple[str, str] | None = None,
                 verbose: bool = False, fleet=None, fleet_model=FleetView):
        self.tasks = tasks or TaskManager()
        super().__init__(api(self.tasks, token, body_limit, fleet, fleet_model), addr, port, token, tls,
                         verbose)

    def shutdown_all(self) -> None:
        self.shutdown()
        self.tasks.shutdown()


__all__ = ["Server", "ServerConfigError", "check_bind"]
