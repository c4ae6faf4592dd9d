"""The lean WebSocket protocol (updatedesk/ws_protocol.py): its receive queue and writable flag
behave as the asyncio primitives uvicorn uses them, and an open socket of a real server keeps no
handshake objects and still talks both ways."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

from infra.settings import Settings
from models.enums import Role
from resolvers.live.outbox import SEND_FRAME_EXTENSION, text_frame
from tests.factories import make_account, make_token
from tests.support import TestDatabase
from tests.support_live import live_server, ws_client
from updatedesk.ws_protocol import Flag, LeanWebSocketProtocol, ReceiveQueue

WITHIN = 10.0


async def test_the_receive_queue_hands_out_messages_in_order_and_waits_for_the_next() -> None:
    queue = ReceiveQueue()
    queue.put_nowait("connect")
    queue.put_nowait("receive")
    assert (queue.qsize(), queue.empty()) == (2, False)
    assert [await queue.get(), await queue.get()] == ["connect", "receive"]
    assert queue.empty()
    waiting = asyncio.create_task(queue.get())
    await asyncio.sleep(0)  # the reader waits
    assert not waiting.done()
    queue.put_nowait("disconnect")
    assert await asyncio.wait_for(waiting, WITHIN) == "disconnect"


async def test_the_receive_queue_has_one_reader_and_survives_a_cancelled_one() -> None:
    queue = ReceiveQueue()
    first = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="one reader"):
        await queue.get()
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    queue.put_nowait("kept")  # nothing is lost to the cancelled reader
    assert await asyncio.wait_for(queue.get(), WITHIN) == "kept"


async def test_the_flag_wakes_every_waiter_once_set_and_blocks_once_cleared() -> None:
    flag = Flag(True)
    assert await flag.wait() and flag.is_set()
    flag.clear()
    waiters = [asyncio.create_task(flag.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(waiter.done() for waiter in waiters)
    flag.set()
    assert await asyncio.wait_for(asyncio.gather(*waiters), WITHIN) == [True, True, True]


async def test_a_cancelled_waiter_leaves_the_flag_clean() -> None:
    flag = Flag()
    waiter = asyncio.create_task(flag.wait())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert flag._waiters == []
    flag.set()
    assert await asyncio.wait_for(flag.wait(), WITHIN)


async def test_an_open_socket_keeps_no_handshake_and_still_talks(db: TestDatabase) -> None:
    token = await make_token(await make_account(Role.HOSTING_STAFF))
    settings = Settings(database_url=db.url, redis_url=None)
    async with live_server(settings) as server, ws_client(server, token) as client:
        await client.ping_pong()
        assert server.uvicorn_server is not None
        sockets = [
            each
            for each in server.uvicorn_server.server_state.connections
            if isinstance(each, WebSocketsSansIOProtocol)
        ]
        assert len(sockets) == 1 and isinstance(sockets[0], LeanWebSocketProtocol)
        socket = sockets[0]
        assert (socket.request, socket.response) == (None, None)
        # websockets' parser still holds the request (a local of its generator): without headers.
        parser: Any = socket.conn.parser
        parser_locals = parser.gi_frame.f_locals
        held = [value for value in parser_locals.values() if isinstance(value, Request)]
        assert held, "websockets no longer keeps the request: the headers' clearing can go"
        assert [len(request.headers) for request in held] == [0]
        assert isinstance(socket.queue, ReceiveQueue) and isinstance(socket.writable, Flag)
        # On its await chain, for the socket's life: the app, the request id's binding and the
        # GraphQL handler; not Starlette's error and exception middleware, router and route, nor
        # the HTTP-only middlewares.
        (task,) = socket.tasks
        chain = awaited_chain(task.get_coro())
        assert any("GraphQL" in name for name in chain), chain  # the chain reaches the handler
        assert "UpdatedeskApp.__call__" in chain
        assert "RequestContextMiddleware.__call__" in chain  # binds the socket's request id
        skipped = (
            "ServerError",
            "ExceptionMiddleware",
            "Router",
            "Route.",
            "BodySize",
            "BodyDeadline",
            "MetricsPort",
        )
        assert not [name for name in chain if any(part in name for part in skipped)], chain
        await client.send({"id": "1", "type": "subscribe", "payload": {"query": "{ __typename }"}})
        assert (await client.receive_for("1"))["payload"] == {"data": {"__typename": "Query"}}


def awaited_chain(coroutine: Any) -> list[str]:
    """The qualified names of the coroutines `coroutine` awaits, outermost first."""
    names = []
    while coroutine is not None and hasattr(coroutine, "cr_code"):
        names.append(coroutine.cr_code.co_qualname)
        coroutine = coroutine.cr_await
    return names


async def test_a_ready_frame_is_written_in_place_only_while_the_socket_takes_it(db: TestDatabase) -> None:
    """The in-place write the live outbox uses (`SEND_FRAME_EXTENSION`): the client reads the
    frame like any other; a socket that must wait, or is closing, refuses and gets nothing."""
    token = await make_token(await make_account(Role.HOSTING_STAFF))
    settings = Settings(database_url=db.url, redis_url=None)
    async with live_server(settings) as server, ws_client(server, token) as client:
        await client.ping_pong()
        assert server.uvicorn_server is not None
        (socket,) = [
            each
            for each in server.uvicorn_server.server_state.connections
            if isinstance(each, LeanWebSocketProtocol)
        ]
        assert socket.scope["extensions"][SEND_FRAME_EXTENSION] == socket.send_frame_now
        assert socket.send_frame_now(text_frame('{"type":"pong","payload":{"n":1}}'))
        assert await client.receive() == {"type": "pong", "payload": {"n": 1}}
        socket.writable.clear()  # the transport's buffer is full: uvicorn's send would wait
        assert not socket.send_frame_now(text_frame('{"type":"pong","payload":{"n":2}}'))
        socket.writable.set()
        socket.close_sent = True  # the server has begun closing
        assert not socket.send_frame_now(text_frame('{"type":"pong","payload":{"n":3}}'))
        socket.close_sent = False
        await client.ping_pong()
        assert client._pending == []  # neither refused frame went out
