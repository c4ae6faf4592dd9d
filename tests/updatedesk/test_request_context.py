"""The request-context middleware, called as ASGI: the request id is bound while the app runs
(HTTP and WebSocket), the caller's own binding is back afterwards, even when the app raises, and
each answer is counted under its path label and status."""

from __future__ import annotations

from typing import Any

import pytest
import structlog

from infra.metrics import REGISTRY
from infra.request_ids import current_request_id
from updatedesk.http import CLIENT_CLOSED_REQUEST, RequestContextMiddleware


def counted(path: str, status: int) -> float:
    labels = {"path": path, "status": str(status)}
    return REGISTRY.get_sample_value("updatedesk_http_requests_total", labels) or 0.0


def scope(kind: str, request_id: str, path: str = "/graphql") -> dict[str, Any]:
    return {"type": kind, "path": path, "headers": [(b"x-request-id", request_id.encode())]}


async def test_the_id_is_bound_while_the_app_runs_and_restored_after() -> None:
    seen: list[str | None] = []
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(current_request_id())
        await send({"type": "http.response.start", "status": 204, "headers": []})

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    before = counted("/graphql", 204)
    with structlog.contextvars.bound_contextvars(request_id="outer"):
        await RequestContextMiddleware(app)(scope("http", "inner-1"), None, send)  # type: ignore[arg-type]
        await RequestContextMiddleware(app)(scope("websocket", "inner-2"), None, send)  # type: ignore[arg-type]
        assert current_request_id() == "outer"
    assert seen == ["inner-1", "inner-2"]
    assert sent[0]["headers"] == [(b"x-request-id", b"inner-1")]
    assert counted("/graphql", 204) == before + 1  # the WebSocket is not an HTTP request


async def test_a_failing_app_is_counted_as_500_and_unbinds() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    async def unanswered(scope: Any, receive: Any, send: Any) -> None:
        return None

    async def send(message: dict[str, Any]) -> None:
        return None

    failed, closed = counted("other", 500), counted("other", CLIENT_CLOSED_REQUEST)
    with pytest.raises(RuntimeError):
        await RequestContextMiddleware(app)(scope("http", "x1", "/nowhere"), None, send)  # type: ignore[arg-type]
    await RequestContextMiddleware(unanswered)(scope("http", "x2", "/nowhere"), None, send)  # type: ignore[arg-type]
    assert current_request_id() is None
    assert counted("other", 500) == failed + 1
    assert counted("other", CLIENT_CLOSED_REQUEST) == closed + 1
