"""Live-status test plumbing: the real app on uvicorn on the test's own event loop, a real
graphql-transport-ws client (the `websockets` package), and a private redis-server to restart.

Nothing here waits a fixed time: every wait is for a message or a condition, with a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from infra.bus import EventBus
from infra.settings import Settings
from resolvers.live.hub import LiveHub
from updatedesk.app import LifespanPart, create_app
from updatedesk.live import server_config

PROTOCOL = "graphql-transport-ws"
#: The Redis the live tests use (their keys carry the run's id, see `run_id`).
REDIS_URL = os.environ.get("UPDATEDESK_TEST_REDIS", "redis://127.0.0.1:6379/0")
#: Longest wait for one expected message or condition.
WITHIN = 10.0

EVENT_FIELDS = """
  type at
  progress { percent step }
  updateRequest { id status district { id name } }
"""
EVENTS = f"""
subscription Events($districtId: ID, $updateRequestId: ID) {{
  updateRequestEvents(districtId: $districtId, updateRequestId: $updateRequestId) {{ {EVENT_FIELDS} }}
}}
"""
#: The events with what a resuming client keeps: the cursor, and the move each event records.
RESUMABLE = """
subscription Resumable($districtId: ID, $updateRequestId: ID, $after: String) {
  updateRequestEvents(districtId: $districtId, updateRequestId: $updateRequestId, after: $after) {
    type at cursor fromStatus toStatus progress { percent } updateRequest { id status }
  }
}
"""


@dataclass
class LiveServer:
    app: Starlette
    port: int
    #: The uvicorn server (its `server_state.connections` are the open sockets' protocols).
    uvicorn_server: uvicorn.Server | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def bus(self) -> EventBus:
        bus: EventBus = self.app.state.bus
        return bus

    @property
    def hub(self) -> LiveHub:
        hub: LiveHub = self.app.state.hub
        return hub


class Hold:
    """A method held at a gate (`held`): `calls` counts callers waiting or gone through, `waiting`
    is set at the first, and each goes on once `gate` is set."""

    def __init__(self) -> None:
        self.calls = 0
        self.waiting = asyncio.Event()
        self.gate = asyncio.Event()


@contextlib.contextmanager
def held(target: object, name: str) -> Iterator[Hold]:
    """Hold every call of `target.name` (an async method) until the gate opens; put it back after."""
    original = getattr(target, name)
    hold = Hold()

    async def waiting_at_the_gate(*args: Any, **kwargs: Any) -> Any:
        hold.calls += 1
        hold.waiting.set()
        await hold.gate.wait()
        return await original(*args, **kwargs)

    setattr(target, name, waiting_at_the_gate)
    try:
        yield hold
    finally:
        setattr(target, name, original)


async def wait_until(
    condition: Callable[[], bool | Awaitable[bool]], what: str, within: float = WITHIN
) -> None:
    """Poll `condition` until true; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if not isinstance(value, bool):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


@asynccontextmanager
async def live_server(
    settings: Settings, *, live: bool = True, extra_lifespans: Sequence[LifespanPart] = ()
) -> AsyncIterator[LiveServer]:
    """The API app (sharing the test's ORM) on uvicorn at 127.0.0.1, free port, compression off."""
    app = create_app(settings, manage_orm=False, live=live, extra_lifespans=extra_lifespans)
    server = uvicorn.Server(server_config(app, port=0, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    try:
        await wait_until(lambda: server.started or task.done(), "uvicorn to start")
        if task.done():
            task.result()
            raise RuntimeError("uvicorn stopped before it started")
        yield LiveServer(app, server.servers[0].sockets[0].getsockname()[1], server)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=WITHIN)


class WsClient:
    """A graphql-transport-ws client over a real WebSocket."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        #: Messages read while waiting for others, by operation id.
        self._pending: list[dict[str, Any]] = []

    async def send(self, message: dict[str, Any]) -> None:
        await self.connection.send(json.dumps(message))

    async def receive(self, within: float = WITHIN) -> dict[str, Any]:
        if self._pending:
            return self._pending.pop(0)
        async with asyncio.timeout(within):
            message: dict[str, Any] = json.loads(await self.connection.recv())
        return message

    async def receive_for(self, operation_id: str, within: float = WITHIN) -> dict[str, Any]:
        """The next message of one operation; others are kept for later."""
        for index, message in enumerate(self._pending):
            if message.get("id") == operation_id:
                return self._pending.pop(index)
        async with asyncio.timeout(within):
            while True:
                message = json.loads(await self.connection.recv())
                if message.get("id") == operation_id:
                    return message
                self._pending.append(message)

    async def event(self, operation_id: str, within: float = WITHIN) -> dict[str, Any]:
        """The next `updateRequestEvents` payload of `operation_id` (fails on anything else)."""
        message = await self.receive_for(operation_id, within)
        assert message["type"] == "next", message
        assert "errors" not in message["payload"], message
        event: dict[str, Any] = message["payload"]["data"]["updateRequestEvents"]
        return event

    async def init(self, token: str | None) -> dict[str, Any]:
        payload = {"Authorization": f"Bearer {token}"} if token else {}
        await self.send({"type": "connection_init", "payload": payload})
        return await self.receive()

    async def subscribe(
        self, operation_id: str, variables: dict[str, Any] | None = None, query: str = EVENTS
    ) -> None:
        payload = {"query": query, "variables": variables or {}}
        await self.send({"id": operation_id, "type": "subscribe", "payload": payload})

    async def closed(self, within: float = WITHIN) -> tuple[int | None, str | None]:
        """Wait for the server to close the socket; its close code and reason."""
        async with asyncio.timeout(within):
            with contextlib.suppress(ConnectionClosed):
                while True:
                    self._pending.append(json.loads(await self.connection.recv()))
        received = self.connection.protocol.close_rcvd
        return (received.code, received.reason) if received else (None, None)

    async def ping_pong(self) -> None:
        """A round trip: every message the server sent before its pong is then read."""
        await self.send({"type": "ping"})
        async with asyncio.timeout(WITHIN):
            while True:
                message = json.loads(await self.connection.recv())
                if message.get("type") == "pong":
                    return
                self._pending.append(message)

    def unread(self) -> list[dict[str, Any]]:
        return list(self._pending)


@asynccontextmanager
async def ws_client(
    server: LiveServer, token: str | None = None, *, protocols: Sequence[str] = (PROTOCOL,), init: bool = True
) -> AsyncIterator[WsClient]:
    """Connected (and, with `token`, initialised and acknowledged) client."""
    async with connect(
        server.ws_url,
        subprotocols=list(protocols),  # type: ignore[arg-type]
        open_timeout=WITHIN,
        close_timeout=2,
    ) as connection:
        client = WsClient(connection)
        if init and token is not None:
            ack = await client.init(token)
            assert ack["type"] == "connection_ack", ack
        yield client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PrivateRedis:
    """A redis-server of our own on a free loopback port, to stop and start at will. `persistent`:
    with an append-only file, so that its data survives a restart (fsync on every write)."""

    def __init__(self, directory: Path, *, persistent: bool = False) -> None:
        self.directory = directory
        self.persistent = persistent
        self.port = free_port()
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed"
        self.process = await asyncio.create_subprocess_exec(
            binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "yes" if self.persistent else "no",
            "--appendfsync", "always",
            "--dir", str(self.directory),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await wait_until(self._accepts, "the private redis-server to accept connections")

    async def _accepts(self) -> bool:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        self.process = None


@asynccontextmanager
async def private_redis(directory: Path, *, persistent: bool = False) -> AsyncIterator[PrivateRedis]:
    redis = PrivateRedis(directory, persistent=persistent)
    await redis.start()
    try:
        yield redis
    finally:
        await redis.stop()
