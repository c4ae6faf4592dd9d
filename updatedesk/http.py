"""HTTP plumbing of the API app: the request-id and metrics middleware, the body size limit, and the
operational endpoints /healthz and /readyz (/metrics: `updatedesk.metrics_access`). All middleware
is pure ASGI: nothing is buffered, and WebSocket traffic passes through untouched."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.contextvars import bind_contextvars, reset_contextvars
from tortoise import connections

from infra.metrics import HTTP_REQUESTS
from infra.request_ids import REQUEST_ID_HEADER, new_request_id
from infra.settings import Settings

logger = logging.getLogger("updatedesk.http")

#: The largest request body accepted (1 MiB): far above any real GraphQL operation of this API.
MAX_BODY_BYTES = 1024 * 1024
TOO_LARGE_MESSAGE = f"Request body too large: at most {MAX_BODY_BYTES} bytes."
#: Paths reported by name in metrics; anything else is "other" so scanners cannot blow up labels.
KNOWN_PATHS = frozenset({"/", "/graphql", "/healthz", "/readyz", "/metrics", "/dev/demo-accounts"})
#: Route families reported by their prefix, never by the rest of the path: the page's static files
#: (`/web/js/main.js`), GraphiQL's, and the calendar feeds (whose path holds a per-account secret).
PATH_PREFIXES = ("/web/", "/graphiql-static/", "/calendar/")
#: Counted when no answer was sent and nothing failed: the client went away first (nginx's code).
CLIENT_CLOSED_REQUEST = 499
#: /readyz gives Redis this long to answer, seconds.
READY_REDIS_TIMEOUT = 2.0


def _header(scope: Scope, name: str) -> str | None:
    """One request header (a helper, so a WebSocket's long-lived frame keeps no header dict)."""
    wanted = name.lower().encode("latin-1")
    for key, value in scope.get("headers", []):
        if key.lower() == wanted:
            return str(value.decode("latin-1"))
    return None


def path_label(path: str) -> str:
    """The metrics label of a request path: a known path, a route family (`/web/*`), or "other"."""
    if path in KNOWN_PATHS:
        return path
    for prefix in PATH_PREFIXES:
        if path.startswith(prefix):
            return prefix + "*"
    return "other"


def _counter(label: str, code: int) -> Any:
    """The request counter's child for (path label, status), looked up once per pair."""
    key = (label, code)
    child = _COUNTERS.get(key)
    if child is None:
        child = _COUNTERS[key] = HTTP_REQUESTS.labels(label, str(code))
    return child


#: Children of the request counter by (path label, status): a handful (path labels x statuses).
_COUNTERS: dict[tuple[str, int], Any] = {}


class RequestContextMiddleware:
    """A request id per request (bound to the log context, returned in `X-Request-ID`) and the
    HTTP request counter. Per request: one contextvar set and reset (not structlog's
    `bound_contextvars`, which copies the whole context to save what it rebinds), one send wrapper,
    and a cached counter child."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id(_header(scope, REQUEST_ID_HEADER))
        tokens = bind_contextvars(request_id=request_id)
        try:
            if kind == "websocket":
                # A WebSocket lives long and sends many frames: they pass through unwrapped.
                await self.app(scope, receive, send)
                return
            await self._http(scope, receive, send, request_id)
        finally:
            reset_contextvars(**tokens)

    async def _http(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        path = scope.get("path", "")
        label = path_label(path)
        header = (b"x-request-id", request_id.encode())
        code = 0

        async def send_with_id(message: Message) -> None:
            nonlocal code
            if message["type"] == "http.response.start":
                code = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        failed = True
        try:
            await self.app(scope, receive, send_with_id)
            failed = False
        finally:
            _counter(label, code or (500 if failed else CLIENT_CLOSED_REQUEST)).inc()


class BodySizeLimitMiddleware:
    """A body over `max_bytes` is refused with 413 before the GraphQL view parses it: by its
    declared Content-Length at once, or, for a chunked body, as soon as the bytes read pass it."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Anything else is handed on with no frame of ours on its await chain: a WebSocket
        # awaits its app for its whole life, and every frame held is memory per open socket.
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        return self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        for name, value in scope.get("headers", []):
            if name.lower() == b"content-length":
                declared = value.decode("latin-1").strip()
                if not declared.isdigit() or int(declared) > self.max_bytes:
                    response = PlainTextResponse(TOO_LARGE_MESSAGE, status_code=413)
                    await response(scope, receive, send)
                    return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised inside the route: Starlette's exception middleware answers 413.
                    raise HTTPException(413, TOO_LARGE_MESSAGE)
            return message

        await self.app(scope, limited_receive, send)


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def readyz(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    problems: dict[str, str] = {}
    try:
        await connections.get("default").execute_query("SELECT 1")
    except Exception as error:  # any failure means "not ready", whatever the driver raises
        logger.warning("readiness: database unreachable: %s", error)
        problems["database"] = "unreachable"
    if settings.redis_url:
        try:
            from redis.asyncio import Redis

            client = Redis.from_url(
                settings.redis_url,
                socket_connect_timeout=READY_REDIS_TIMEOUT,
                socket_timeout=READY_REDIS_TIMEOUT,
            )
            try:
                await client.ping()
            finally:
                await client.aclose()
        except Exception as error:
            logger.warning("readiness: redis unreachable: %s", error)
            problems["redis"] = "unreachable"
    if problems:
        return PlainTextResponse(
            "not ready: " + ", ".join(f"{k} {v}" for k, v in sorted(problems.items())), status_code=503
        )
    return PlainTextResponse("ready")
