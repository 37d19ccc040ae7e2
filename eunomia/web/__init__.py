"""HTTP for the services (`ecli server`, the exporter) on FastAPI and uvicorn: the
loopback rule, bearer tokens, body limits, errors as {"error": ...}, TLS, and an OpenAPI
document generated from the request and reply models."""

from .app import ERRORS_DOC, ErrorReply, json_app, require_token
from .service import ServerConfigError, WebService, check_bind, is_loopback

__all__ = ["ERRORS_DOC", "ErrorReply", "ServerConfigError", "WebService", "check_bind", "is_loopback",
           "json_app", "require_token"]
