"""One log line and one metric sample per GraphQL operation, and a request id per HTTP request.

The request id (taken from a sane `X-Request-ID` header or made up) is bound to the log context,
so every line a request causes carries it, and is returned in the response header. Jobs enqueued
while handling the request carry it on (see workers.queue).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import structlog
from graphql import GraphQLError
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from updatedesk.metrics import GRAPHQL_LATENCY, GRAPHQL_REQUESTS, HTTP_REQUESTS, operation_label

logger = structlog.get_logger("updatedesk.operations")

REQUEST_ID_HEADER = "x-request-id"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
#: Paths reported by name in metrics; anything else is "other" so scanners cannot blow up labels.
KNOWN_PATHS = frozenset({"/graphql", "/healthz", "/readyz", "/metrics"})


def current_request_id() -> str | None:
    value = structlog.contextvars.get_contextvars().get("request_id")
    return str(value) if value is not None else None


def new_request_id(incoming: str | None = None) -> str:
    if incoming and _SANE_REQUEST_ID.match(incoming):
        return incoming
    return uuid.uuid4().hex


def _outcome(errors: list[GraphQLError] | None) -> str:
    if not errors:
        return "ok"
    codes = {(error.extensions or {}).get("code") for error in errors}
    if any(error.original_error is not None and error.path is not None for error in errors) and None in codes:
        return "error"
    return "refused"


class OperationLog(SchemaExtension):
    """Logs `graphql operation` with name, account, duration and outcome; feeds the metrics."""

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        context = self.execution_context
        try:
            operation_type = context.operation_type
        except Exception:  # no parsed document or no such operation: nothing to classify
            operation_type = None
        if operation_type is OperationType.SUBSCRIPTION:
            return  # a subscription's lifetime is not a latency; it is counted as open sockets
        duration = time.perf_counter() - started
        name = operation_label(context.operation_name)
        result = context.result
        errors = getattr(result, "errors", None) if result is not None else context.pre_execution_errors
        outcome = _outcome(errors)
        account = getattr(getattr(context.context, "auth", None), "account", None)
        GRAPHQL_REQUESTS.labels(name, outcome).inc()
        GRAPHQL_LATENCY.labels(name).observe(duration)
        logger.info(
            "graphql operation",
            operation=name,
            operation_type=operation_type.value if operation_type else None,
            account_id=getattr(account, "id", None),
            duration_ms=round(duration * 1000, 2),
            outcome=outcome,
        )


class RequestContextMiddleware:
    """Pure ASGI (it does not buffer streaming or WebSocket traffic): request id and HTTP metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        request_id = new_request_id(headers.get(REQUEST_ID_HEADER))
        path = scope.get("path", "")
        label = path if path in KNOWN_PATHS else "other"
        status: dict[str, Any] = {"code": 0}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                if scope["type"] == "http":
                    HTTP_REQUESTS.labels(label, str(status["code"] or 500)).inc()
