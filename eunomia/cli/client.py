"""`ecli client`: talk to an `ecli server` (start, list, log, pause, resume, stop)."""

from __future__ import annotations

import argparse
import base64
import functools
import json
import sys
import time
from pathlib import Path

from .. import defaults
from ..errors import ArgumentError, EunomiaError, validation_line
from ..files import read_bounded
from ..kinds import SessionState
from ..output.terminal import terminal_safe, terminal_safe_lines
from ..package.source import MAX_PACKAGE_BYTES
from .server import read_token
from .sigfiles import SIGNATURE_HELP, read_signature

DEFAULT_ENDPOINT = defaults.SERVER_ENDPOINT


class ClientError(EunomiaError):
    """The server answered with an error, or could not be reached."""


def add_client_parser(commands) -> None:
    client = commands.add_parser(
        "client", help="start, watch and stop packages on an `ecli server`",
        description="Drive an `ecli server`.",
        epilog="examples:\n  ecli client start examples/exitsnoop/package.json\n"
               "  ecli client list\n  ecli client log 1 -f\n  ecli client start --replace 1 "
               "new/package.json\n  ecli client stop 2",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    client.add_argument("-e", "--endpoint", default=DEFAULT_ENDPOINT,
                        help=f"server URL (default {DEFAULT_ENDPOINT})")
    client.add_argument("--token-file", metavar="FILE", help="bearer token to send")
    client.add_argument("--cafile", metavar="PEM", help="CA certificate for an https "
                        "server with its own certificate")
    client.add_argument("--json", action="store_true", help="print the server's JSON "
                        "replies (for scripts)")
    actions = client.add_subparsers(dest="action", metavar="ACTION", required=True)
    # --json is also accepted after the action (`ecli client list --json`)
    json_flag = argparse.ArgumentParser(add_help=False)
    json_flag.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                           help="print the server's JSON replies")
    actions.add_parser = functools.partial(actions.add_parser, parents=[json_flag])
    start = actions.add_parser("start", help="start a package as a task")
    start.add_argument("package", help="package.json or package.yaml, an image "
                       "HOST/NAME:TAG (pulled here), or - for stdin")
    start.add_argument("--replace", type=int, metavar="ID",
                       help="stop task ID once the new one is attached (hot update)")
    start.add_argument("--name", help="task name (default: the package's)")
    start.add_argument("--signature", metavar="SIG", help=SIGNATURE_HELP)
    start.add_argument("--export-json", action="store_true",
                       help="log events as JSON lines instead of table rows")
    start.add_argument("program_args", nargs=argparse.REMAINDER, metavar="PROGRAM-FLAGS",
                       help="the program's own flags")
    actions.add_parser("list", help="list tasks")
    log = actions.add_parser("log", help="print a task's log")
    log.add_argument("id", type=int)
    log.add_argument("-f", "--follow", action="store_true", help="keep printing new entries")
    log.add_argument("--cursor", type=int, default=0, help="start from this cursor")
    for name, what in (("pause", "detach a task's programs"),
                       ("resume", "attach them again"),
                       ("stop", "stop a task and free everything")):
        actions.add_parser(name, help=what).add_argument("id", type=int)


class Client:
    def __init__(self, endpoint: str, token: str | None = None, cafile: str | None = None):
        self.endpoint = endpoint.rstrip("/")
        self.token = token
        self.context = None
        if cafile:
            import ssl  # here: ssl and urllib slow every `ecli run` start-up
            try:
                self.context = ssl.create_default_context(cafile=cafile)
            except (OSError, ssl.SSLError) as exc:
                raise ClientError(f"cannot use the CA file {cafile}: "
                                  f"{getattr(exc, 'strerror', None) or exc}") from None

    def call(self, method: str, path: str, body: dict | None = None, timeout: float = 60):
        import urllib.error
        import urllib.request
        data = json.dumps(body).encode() if body is not None else None
        try:
            request = urllib.request.Request(self.endpoint + path, data=data, method=method)
        except ValueError as exc:
            raise ClientError(f"bad server URL {self.endpoint}: {exc}") from None
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=timeout,
                                        context=self.context) as reply:
                text = reply.read()
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("error", exc.reason)
            except (ValueError, AttributeError):
                message = exc.reason
            raise ClientError(f"server: {message} (HTTP {exc.code})") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ClientError(f"cannot reach {self.endpoint}: {reason}") from None
        try:
            return json.loads(text or b"{}")
        except ValueError:
            raise ClientError(f"{self.endpoint} did not answer with JSON: is it an "
                              "ecli server?") from None


def _read_package(source: str) -> tuple[bytes, str]:
    """The package's bytes and its kind (json, yaml, or wasm for a module); an image
    reference is pulled here, with this user's credentials and cache, and sent as its
    content."""
    from ..oci import looks_like_reference
    from ..package.wasm_module import is_wasm
    if source != "-" and not Path(source).exists() and looks_like_reference(source):
        from ..oci import fetch_package
        image = fetch_package(source)
        if image.kind == "wasm":
            return image.content, "wasm"
        if image.kind != "json":
            raise ArgumentError(f"{source} is a {image.kind} image: the server takes JSON "
                                "or YAML packages and Wasm modules")
        return image.content, "yaml" if image.file_name.endswith((".yaml", ".yml")) \
            else "json"
    if source == "-":
        data = sys.stdin.buffer.read()
    else:
        path = Path(source)
        if path.is_dir():
            path = path / "package.json"
        try:
            data = read_bounded(path, MAX_PACKAGE_BYTES)
        except OSError as exc:
            raise ArgumentError(f"cannot read {path}: {exc.strerror}") from None
    kind = "wasm" if is_wasm(data) else \
        "yaml" if source.endswith((".yaml", ".yml")) else "json"
    return data, kind


def run_client(args) -> int:
    client = Client(args.endpoint, read_token(args.token_file), args.cafile)
    # names and log lines come from the server (a module's file name, a guest's output):
    # their controls are shown escaped
    show = (lambda reply, _text: print(json.dumps(reply))) if args.json else \
        (lambda _reply, text: print(terminal_safe_lines(text)))
    if args.action == "start":
        data, kind = _read_package(args.package)
        body = {"program_data_buf": base64.b64encode(data).decode(), "program_type": kind,
                "extra_args": args.program_args, "export_json": args.export_json}
        if args.name or kind == "wasm":
            body["program_name"] = args.name or Path(args.package).name
        signature = read_signature(args.package, args.signature)
        if signature:
            body["program_signature"] = signature
        if args.replace is not None:
            body["replace"] = args.replace
        reply = client.call("POST", "/task", body)
        replaced = f"; task {reply['replaced']} stops" if "replaced" in reply else ""
        show(reply, f"started task {reply['id']} ({reply['name']}){replaced}")
    elif args.action == "list":
        reply = client.call("GET", "/task")
        tasks = _parsed("TaskList", reply).tasks
        rows = [f"{'ID':<5} {'NAME':<20} STATUS"] + [
            f"{t.id:<5} {t.name:<20} {t.status.value}" for t in tasks]
        show(reply, "\n".join(rows))
    elif args.action == "log":
        return _log(client, args)
    else:
        reply = client.call("POST", f"/{args.action}", {"id": args.id})
        task = _parsed("TaskSummary", reply)
        show(reply, f"task {task.id} {task.status.value}")
    return 0


def _parsed(model: str, reply):
    """The server's reply as server.models' `model`; ClientError in one line when it is
    not one (another program, or a server of another version)."""
    # imported on use: pydantic costs `ecli run` ~170 ms of start-up, and a standalone
    # tool (a zipapp of eunomia) carries no pydantic
    from pydantic import ValidationError

    from ..server import models
    try:
        return getattr(models, model).model_validate(reply)
    except ValidationError as exc:
        raise ClientError("the server's reply is not what this client expects: "
                          f"{validation_line(exc.errors(), 'the reply')}") from None


def _log(client: Client, args) -> int:
    cursor = args.cursor
    while True:
        reply = _parsed("LogReply", client.call("POST", "/log", {
            "id": args.id, "log_cursor": cursor, "wait_ms": 1000 if args.follow else 0}))
        for entry in reply.log:
            if args.json:
                print(entry.model_dump_json())
            else:
                print(terminal_safe(entry.text) if entry.kind == "event"
                      else f"[{entry.kind}] {terminal_safe(entry.text)}")
        sys.stdout.flush()
        cursor = reply.next_cursor
        ended = reply.status in (SessionState.STOPPED, SessionState.FAILED)
        if not args.follow or (ended and not reply.log):
            return 0
        if not reply.log:
            time.sleep(0.1)
