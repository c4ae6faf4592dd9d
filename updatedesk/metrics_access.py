"""Who may read `GET /metrics`, and where.

- By default it is open on the API port, as before (compose's health checks and scrapers use it);
  its series have bounded labels (root fields, not client-chosen names), so a scrape stays small.
- `UPDATEDESK_METRICS_TOKEN`: `/metrics` wants `Authorization: Bearer <token>` (401 otherwise).
- `UPDATEDESK_METRICS_PORT`: `updatedesk serve` also listens on that port; `/metrics` is answered
  there only (404 on the API port), and that port answers nothing but `/metrics`.
Both may be set together.
"""

from __future__ import annotations

import copy
import hmac
import socket
from collections.abc import Awaitable

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from infra.metrics import REGISTRY, refresh_database_gauges
from infra.settings import Settings
from models.tokens import parse_bearer

METRICS_PATH = "/metrics"


def _local_port(scope: Scope) -> int | None:
    server = scope.get("server")
    return int(server[1]) if server and len(server) > 1 and server[1] is not None else None


async def metrics(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    if settings.metrics_port is not None and _local_port(request.scope) != settings.metrics_port:
        return PlainTextResponse("Not Found", status_code=404)
    if settings.metrics_token is not None:
        given = parse_bearer(request.headers.get("authorization")) or ""
        expected = settings.metrics_token.get_secret_value()
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return PlainTextResponse(
                "Send 'Authorization: Bearer <metrics token>'.",
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
    await refresh_database_gauges()
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


class MetricsPortOnly:
    """On the metrics port, nothing but `/metrics`."""

    def __init__(self, app: ASGIApp, metrics_port: int | None) -> None:
        self.app = app
        self.metrics_port = metrics_port

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if (
            self.metrics_port is not None
            and scope["type"] in ("http", "websocket")
            and _local_port(scope) == self.metrics_port
            and scope.get("path") != METRICS_PATH
        ):
            if scope["type"] == "http":
                return PlainTextResponse("Not Found", status_code=404)(scope, receive, send)
            return send({"type": "websocket.close", "code": 1008})
        # Handed on with no frame of ours on its await chain (a WebSocket's lasts as long as it).
        return self.app(scope, receive, send)


def listening_sockets(config: uvicorn.Config, settings: Settings) -> list[socket.socket]:
    """The API's socket, and the metrics port's when one is set (same host)."""
    sockets = [config.bind_socket()]
    if settings.metrics_port is not None:
        # A copy, not a new Config: a new one would also re-apply uvicorn's own logging setup.
        metrics_config = copy.copy(config)
        metrics_config.port = settings.metrics_port
        sockets.append(metrics_config.bind_socket())
    return sockets
