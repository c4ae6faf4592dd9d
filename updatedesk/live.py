"""Live status wiring for an API process: its event bus, and how its WebSocket server is run.

- ``bus_lifespan(settings)``: a lifespan part (``create_app`` includes it unless ``live=False``)
  that starts the process's bus (``RedisBus`` with ``settings.redis_url``, else ``InProcessBus``),
  installs ``install_bus_sink`` so every committed domain event is published, and exposes the bus
  as ``app.state.bus``; on exit it uninstalls the sink and closes the bus.
- A bus owned by someone else (``workers.runtime``'s runtimes create one and install its sink):
  ``attach_bus(app, runtime.bus)`` from a lifespan part entered before the bus part, or
  ``bus_lifespan(settings, bus=runtime.bus)``. The part then only exposes that bus: no second
  bus, no second sink, so nothing is published twice.
- ``app_hub(app)``: the live hub (render groups, shared caches) serving the subscriptions, or None.
- ``server_config(app, host, port)``: uvicorn settings for the API (``server_options``): the
  ``websockets`` protocol implementation (sans-I/O, lean: ``updatedesk.ws_protocol``) with
  per-message compression off (a deflate context costs memory per socket), WebSocket messages of
  at most 1 MiB (closed with 1009 above), and the header time limit of ``updatedesk.slow_clients``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette

from infra.bus import EventBus, RedisBus, install_bus_sink, make_bus
from infra.settings import Settings
from resolvers.live.hub import LiveHub
from updatedesk.http import MAX_BODY_BYTES
from updatedesk.slow_clients import http_protocol
from updatedesk.ws_protocol import LeanWebSocketProtocol

logger = logging.getLogger("updatedesk.live")

#: How long startup waits for the Redis listener before serving anyway (it keeps retrying, and
#: single-request subscribers get a fresh SNAPSHOT once it is up).
BUS_READY_TIMEOUT_SECONDS = 5.0
#: uvicorn options every API server uses: the sans-I/O websockets implementation (it waits for
#: the socket to drain, so a slow reader holds back its own subscriptions, whose bounded queues
#: then close it, rather than growing a send buffer) in its lean form (`updatedesk.ws_protocol`:
#: less memory per open socket), and WebSocket compression off by default.
WS_SERVER_OPTIONS: dict[str, Any] = {
    "ws": LeanWebSocketProtocol,
    "ws_per_message_deflate": False,
    # As the HTTP body limit: uvicorn's default (16 MiB) let 20 sockets grow the process by 550 MB.
    "ws_max_size": MAX_BODY_BYTES,
}


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn options of every API server: WS_SERVER_OPTIONS and the header time limit."""
    return {**WS_SERVER_OPTIONS, "http": http_protocol(settings.http_header_timeout_seconds)}


def attach_bus(app: Starlette, bus: EventBus) -> None:
    """Serve subscriptions of `app` from `bus` (whose owner installed the publishing sink): the
    process's hub reads the bus's stream once and serves every subscription."""
    hub = LiveHub(bus)
    bus.add_listener(hub)
    app.state.bus = bus
    app.state.hub = hub


def detach_bus(app: Starlette) -> None:
    hub = app_hub(app)
    if hub is not None:
        hub.bus.remove_listener(hub)
    app.state.bus = None
    app.state.hub = None


def app_bus(app: Starlette) -> EventBus | None:
    return getattr(app.state, "bus", None)


def app_hub(app: Starlette) -> LiveHub | None:
    return getattr(app.state, "hub", None)


async def close_hub(app: Starlette) -> None:
    """Stop what the hub runs (the watch over open sockets' tokens)."""
    hub = app_hub(app)
    if hub is not None:
        await hub.close()


def bus_lifespan(
    settings: Settings, bus: EventBus | None = None
) -> Callable[[Starlette], AbstractAsyncContextManager[EventBus]]:
    """The lifespan part that gives the API process its bus (see the module docstring)."""

    @asynccontextmanager
    async def part(app: Starlette) -> AsyncIterator[EventBus]:
        shared = bus or app_bus(app)
        if shared is not None:
            hub = app_hub(app)
            if hub is None or hub.bus is not shared:
                # Attached already by the part that owns the bus (`updatedesk serve`'s runtime):
                # a second hub would read every record again for no subscriber.
                attach_bus(app, shared)
            try:
                yield shared
            finally:
                await close_hub(app)
            return
        own = make_bus(settings)
        await own.start()
        if isinstance(own, RedisBus):
            try:
                await asyncio.wait_for(own.listening.wait(), BUS_READY_TIMEOUT_SECONDS)
            except TimeoutError:
                logger.warning("event bus: Redis not reachable yet; serving, the listener keeps retrying")
        uninstall = install_bus_sink(own)
        attach_bus(app, own)
        try:
            yield own
        finally:
            uninstall()
            await close_hub(app)
            detach_bus(app)
            await own.close()

    return part


def server_config(app: Starlette, host: str = "127.0.0.1", port: int = 0, **options: Any) -> uvicorn.Config:
    """uvicorn settings for an API server (tests run it with ``uvicorn.Server(config).serve()``)."""
    return uvicorn.Config(app, host=host, port=port, **{**server_options(app.state.settings), **options})
