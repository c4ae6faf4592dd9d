"""uvicorn's sans-I/O WebSocket protocol, holding less for each open socket.

An API process holds thousands of idle live screens (issue 14: 10,000 on one process within
30 KiB each), so what every socket keeps for its whole life counts. tracemalloc over 2,000 sockets
(BENCHMARKS.md, fan-out) found, per socket, ~3.5 KiB in the handshake's request and response
(their header objects, never read once the socket is open: the ASGI scope has its own copy) and
~3.8 KiB in the receive queue and the writable event: each `asyncio.Queue` and `asyncio.Event`
owns empty `deque`s of ~0.6 KiB. This protocol drops the handshake once it is answered and uses
the two small primitives below instead.

It also offers the live outbox a way past the ASGI send (`SEND_FRAME_EXTENSION`): a ready text
frame is written in place when the socket is open and takes it at once, with the same checks
uvicorn's send makes; anything else (a socket that must wait, closing or closed) is refused and
goes the ASGI way. Everything else is uvicorn's.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request
from websockets.protocol import State

from resolvers.live.outbox import SEND_FRAME_EXTENSION


class ReceiveQueue:
    """The ASGI receive queue: what uvicorn's protocol uses of `asyncio.Queue` (`put_nowait`,
    `get`, `empty`), for one reader at a time (the application's `receive`)."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> Any:
        while not self._items:
            if self._waiter is not None:
                raise RuntimeError("a WebSocket's messages are received by one reader at a time")
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        return self._items.pop(0)  # a handful at most: a list is smaller than a deque

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)


class Flag:
    """`asyncio.Event` (`set`, `clear`, `is_set`, `wait`) whose waiter list exists only while
    someone waits."""

    __slots__ = ("_value", "_waiters")

    def __init__(self, value: bool = False) -> None:
        self._value = value
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._value

    def set(self) -> None:
        if self._value:
            return
        self._value = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._value = False

    async def wait(self) -> bool:
        if self._value:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
        return True


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    """`websockets-sansio` with the small receive queue and writable flag above, and without the
    handshake's request and response (nor the request's headers) once the handshake is answered."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue: Any = ReceiveQueue()
        self.writable: Any = Flag(True)

    async def send(self, message: Any) -> None:
        await super().send(message)
        if self.handshake_complete and getattr(self, "response", None) is not None:
            # websockets' parser keeps the request for the socket's life (a local of its
            # generator, ~2.3 KiB of headers); the scope has its own copy of them.
            self.request.headers.clear()
            self.request = self.response = None  # type: ignore[assignment]

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope: Any = getattr(self, "scope", None)
        if scope is not None:  # the handshake was accepted: the application will run
            scope["extensions"][SEND_FRAME_EXTENSION] = self.send_frame_now

    def send_frame_now(self, frame: bytes) -> bool:
        """Write a ready text frame if the socket is open and takes it at once (what uvicorn's
        send of `websocket.send` would do); False, writing nothing, in every other case."""
        conn = self.conn
        if (
            not self.writable.is_set()
            or self.disconnected
            or not self.handshake_complete
            or self.close_sent
            or self.initial_response is not None
            or conn.state is not State.OPEN
            or conn.extensions
            or conn.expect_continuation_frame
            or self.transport.is_closing()
        ):
            return False
        self.transport.write(frame)
        return True
