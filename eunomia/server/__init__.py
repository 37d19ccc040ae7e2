"""`ecli server`: eBPF as a service. Packages pushed over HTTP run as tasks (the same
runtime as `ecli run`), their output kept in bounded logs read with cursors.

    from eunomia.server import Server
    server = Server(port=0)              # 127.0.0.1; a token is needed beyond loopback
    server.start_in_thread()
    ...
    server.shutdown_all()                # stops the server, then every task

The API is described in docs/server.md and served at GET /openapi.json.
"""

from .http import DEFAULT_ADDR, DEFAULT_PORT, Server, ServerConfigError, check_bind
from .tasks import StartRequest, Task, TaskManager

__all__ = ["DEFAULT_ADDR", "DEFAULT_PORT", "Server", "ServerConfigError", "StartRequest",
           "Task", "TaskManager", "check_bind"]
