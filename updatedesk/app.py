"""The API process: a Starlette app serving GraphQL (HTTP and WebSocket), GraphiQL offline, and
health checks.

Later parts plug in without rewriting this file:
- lifespan parts: `create_app(extra_lifespans=[part, ...])`, each a callable taking the app and
  returning an async context manager (entered in order after the ORM is up, left in reverse);
- routes: `create_app(extra_routes=[Route(...), ...])`;
- the live hub for subscriptions (`updatedesk.live.bus_lifespan`) comes last, after the extra
  parts, so that an extra part may `attach_bus(app, its_bus)` and be reused (`live=False`: none).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from datetime import timedelta
from typing import Any

import uvicorn
from cross_web import HTTPException
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.parse_content_type import parse_content_type
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from infra.db import close_orm, init_orm
from infra.settings import Settings
from resolvers.context import GraphQLContext
from resolvers.live.access import connection_signed_in
from schema import schema as default_schema
from updatedesk.calendar import calendar_routes
from updatedesk.cost_budget import app_cost_budget, cost_budget_lifespan, local_cost_budget
from updatedesk.folder_lock import lock_embedded_database
from updatedesk.graphiql import graphiql_html, graphiql_routes
from updatedesk.graphiql.page import GRAPHIQL_SECURITY_HEADERS
from updatedesk.http import BodySizeLimitMiddleware, RequestContextMiddleware, healthz, readyz
from updatedesk.live import app_hub, attach_bus, bus_lifespan, server_options
from updatedesk.live_documents import LiveDocuments
from updatedesk.media_types import GRAPHQL_RESPONSE_JSON, graphql_response_status, negotiate, prefers_html
from updatedesk.metrics_access import METRICS_PATH, MetricsPortOnly, listening_sockets, metrics
from updatedesk.slow_clients import BodyDeadlineMiddleware
from updatedesk.web import web_routes
from updatedesk.web.routes import STATIC_PREFIX as WEB_STATIC_PREFIX
from updatedesk.ws import LeanWebSocketAdapter, refusal
from updatedesk.ws_limits import LimitedTransportWSHandler, SocketCounts

logger = logging.getLogger("updatedesk.app")

GRAPHQL_PATH = "/graphql"
GRAPHIQL_STATIC_PREFIX = "/graphiql-static"
#: The graphql-ws client the web page vendors; GraphiQL loads it for subscriptions.
GRAPHQL_WS_CLIENT_MODULE = f"{WEB_STATIC_PREFIX}/vendor/graphql-ws/client.js"

#: A lifespan part: given the app, an async context manager that runs for the app's lifetime.
LifespanPart = Callable[[Starlette], AbstractAsyncContextManager[Any]]


class UpdatedeskGraphQL(GraphQL):
    """Strawberry's ASGI view with our context, our offline GraphiQL page, JSON-only POSTs, no
    batches, sign-in from the WebSocket `connection_init` payload, WebSocket limits
    (`updatedesk.ws_limits`) and GraphQL-over-HTTP media types (`updatedesk.media_types`)."""

    # Subscriptions served by the live hub (`updatedesk.ws`), under the WebSocket limits.
    graphql_transport_ws_handler_class = LimitedTransportWSHandler  # type: ignore[assignment]
    websocket_adapter_class = LeanWebSocketAdapter

    def __init__(self, schema: Any, settings: Settings, **options: Any) -> None:
        super().__init__(schema, **options)
        self.settings = settings
        self.socket_counts = SocketCounts.from_settings(settings)
        #: Seconds, for the WebSocket subscribe rate (tests may drive it).
        self.clock: Callable[[], float] = time.monotonic
        self.live_documents = LiveDocuments(self.schema)

    async def get_context(self, request: Request | WebSocket, response: Any = None) -> GraphQLContext:  # type: ignore[override]
        hub = app_hub(request.app)
        if isinstance(request, WebSocket):
            context = GraphQLContext.for_websocket(request, self.settings, hub)
        else:
            context = await GraphQLContext.for_http(request, response, self.settings, hub)
        context.cost_budget = app_cost_budget(request.app)
        return context

    def should_render_graphql_ide(self, request: Any) -> bool:
        # With `?query=`, a browser opening a link gets GraphiQL filled in, anyone else the answer
        # (queries only, as before). Without, strawberry's rule: HTML for text/html or */*.
        if request.method == "GET" and request.query_params.get("query") is not None:
            return prefers_html(request.headers.get("accept"))
        return super().should_render_graphql_ide(request)

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(
            graphiql_html(
                endpoint=GRAPHQL_PATH,
                static_prefix=GRAPHIQL_STATIC_PREFIX,
                ws_client_module=GRAPHQL_WS_CLIENT_MODULE,
            ),
            headers=GRAPHIQL_SECURITY_HEADERS,
        )

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        if isinstance(request, Request):
            sub_response.media_type = negotiate(request.headers.get("accept"))
            request.state.graphql_sub_response = sub_response  # for process_result
        return sub_response

    async def process_result(self, request: Request, result: Any) -> Any:
        body = await super().process_result(request, result)
        sub_response: Response = request.state.graphql_sub_response
        if sub_response.media_type == GRAPHQL_RESPONSE_JSON:
            status = graphql_response_status(body)
            if status != 200:
                body.pop("data", None)  # it never executed: no data entry at all
                sub_response.status_code = status
        return body

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        response = super().create_response(response_data, sub_response)
        # The answer is the caller's own (what its token may see): no shared cache may keep a
        # GET's answer for the next caller of the same URL, nor a browser keep it on disk.
        response.headers["cache-control"] = "no-store"
        if sub_response.media_type == GRAPHQL_RESPONSE_JSON:
            response.headers["content-type"] = f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8"
        return response

    async def parse_http_body(self, request: Any) -> Any:
        if request.method == "POST":
            content_type, _ = parse_content_type(request.content_type or "")
            if content_type != "application/json":
                # Form and multipart bodies are what a cross-site form can send without a CORS
                # preflight: refusing them closes that CSRF path.
                raise HTTPException(415, "Send GraphQL requests as POST with Content-Type: application/json.")
            try:
                body = json.loads(await request.get_body())
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                raise HTTPException(400, "Unable to parse request body as JSON.") from error
            except RecursionError as error:  # e.g. 100,000 nested arrays: not a 500
                raise HTTPException(400, "The request body is nested too deeply.") from error
            if isinstance(body, list):
                raise HTTPException(
                    400, "Batched requests (a JSON array) are not supported; send one operation per request."
                )
            if not isinstance(body, dict):
                raise HTTPException(400, "The request body must be a JSON object with a 'query'.")
        return await super().parse_http_body(request)

    async def on_ws_connect(self, context: GraphQLContext) -> dict[str, object] | None:  # type: ignore[override]
        if not await context.sign_in_with_params(context.connection_params):
            # The handler closes the socket with this code (4403, or 1013 after a server fault)
            # and message as the reason.
            raise ConnectionRejectionError(refusal(context))
        connection_signed_in(context)  # re-checked from now on, and watched while open
        return None


class UpdatedeskApp(Starlette):
    """Starlette, handing a WebSocket on `/graphql` straight to the GraphQL view. A WebSocket
    awaits its app for its whole life, and every layer of Starlette's stack it passed (error and
    exception middleware, router, route) kept frames and objects on that chain for as long:
    ~2.8 KiB per open socket (BENCHMARKS.md). None of them acted on such a socket: the view
    answers its own errors, and anything it raises reached uvicorn through them unchanged. What
    the app's own middleware does for it is applied as `graphql_websocket`."""

    graphql_websocket: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == GRAPHQL_PATH and self.graphql_websocket:
            scope["app"] = self
            await self.graphql_websocket(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def graphql_view(settings: Settings, schema: Any = None) -> UpdatedeskGraphQL:
    return UpdatedeskGraphQL(
        schema or default_schema,
        settings,
        allow_queries_via_get=True,  # queries only: strawberry refuses mutations over GET
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        multipart_uploads_enabled=False,
        # graphql-transport-ws: 4408 without connection_init in time; over the cap, the extra
        # subscribe gets an `error` message ("Subscription limit reached").
        connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout_seconds),
        max_subscriptions_per_connection=settings.ws_max_subscriptions,
    )


def _orm_lifespan(settings: Settings) -> LifespanPart:
    @asynccontextmanager
    async def orm(app: Starlette) -> AsyncIterator[None]:
        await init_orm(settings)
        try:
            yield
        finally:
            await close_orm()

    return orm


def create_app(
    settings: Settings,
    *,
    manage_orm: bool = True,
    extra_lifespans: Sequence[LifespanPart] = (),
    extra_routes: Sequence[BaseRoute] = (),
    schema: Any = None,
    live: bool = True,
) -> Starlette:
    """The API app. `manage_orm=False` when the caller already runs Tortoise on this event loop
    (tests, or `updatedesk dev` sharing one ORM with in-process workers). `live=False` leaves out
    the event bus part (then subscriptions answer with an error until a bus is attached)."""
    parts: list[LifespanPart] = [_orm_lifespan(settings)] if manage_orm else []
    parts.append(cost_budget_lifespan(settings))
    parts.extend(extra_lifespans)
    if live:
        parts.append(bus_lifespan(settings))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[Mapping[str, Any]]:
        async with AsyncExitStack() as stack:
            for part in parts:
                await stack.enter_async_context(part(app))
            yield {}

    graphql = graphql_view(settings, schema)
    routes: list[BaseRoute] = [
        Route(GRAPHQL_PATH, graphql, methods=["GET", "POST"]),
        WebSocketRoute(GRAPHQL_PATH, graphql),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route(METRICS_PATH, metrics, methods=["GET"]),
        *graphiql_routes(GRAPHIQL_STATIC_PREFIX),
        *web_routes(),
        *calendar_routes(),
        *extra_routes,
    ]
    middleware = [
        Middleware(RequestContextMiddleware),
        Middleware(MetricsPortOnly, metrics_port=settings.metrics_port),
        Middleware(BodySizeLimitMiddleware),
        Middleware(BodyDeadlineMiddleware, timeout=settings.http_body_timeout_seconds),
    ]
    app = UpdatedeskApp(routes=routes, lifespan=lifespan, middleware=middleware)
    # What a GraphQL WebSocket needs of the stack above: its request id, and the refusal on the
    # metrics port (the body middlewares are HTTP-only).
    app.graphql_websocket = RequestContextMiddleware(MetricsPortOnly(graphql, settings.metrics_port))
    app.state.settings = settings
    app.state.graphql = graphql
    app.state.cost_budget = local_cost_budget(settings)
    return app


def runtime_lifespan(settings: Settings) -> LifespanPart:
    """The process's queue, bus and (embedded) scheduler: `workers.runtime.app_runtime`, entered
    after the ORM. Its bus serves the subscriptions, so the process holds one bus and one sink."""

    @asynccontextmanager
    async def part(app: Starlette) -> AsyncIterator[Any]:
        from workers.runtime import app_runtime  # the API needs no dramatiq import without it

        async with app_runtime(settings) as runtime:
            app.state.runtime = runtime
            attach_bus(app, runtime.bus)
            yield runtime

    return part


def create_process_app(settings: Settings, after_runtime: Sequence[LifespanPart] = ()) -> Starlette:
    """The app as a real process runs it: ORM, runtime (queue, bus, scheduler when embedded), then
    `after_runtime` (parts that need the runtime, in `app.state.runtime`)."""
    return create_app(settings, extra_lifespans=[runtime_lifespan(settings), *after_runtime])


def serve(host: str, port: int, settings: Settings) -> None:
    """`updatedesk serve`: run the API process under uvicorn (and its metrics port, if set)."""
    config = uvicorn.Config(
        create_process_app(settings),
        host=host,
        port=port,
        proxy_headers=True,
        log_config=None,
        **server_options(settings),
    )
    if settings.metrics_token is None and settings.metrics_port is None:
        logger.info(
            "/metrics is open on the API port; set UPDATEDESK_METRICS_TOKEN or UPDATEDESK_METRICS_PORT"
        )
    # Without Redis this process runs the scheduler and keeps its events in memory: one per file.
    lock = lock_embedded_database(settings) if settings.embedded else None
    try:
        uvicorn.Server(config).run(sockets=listening_sockets(config, settings))
    finally:
        if lock is not None:
            lock.release()
