"""The blocking read's connection, read without redis-py's reading machinery.

Every event reaches the API process as the reply to its blocking XREAD. Through redis-py, that
reply went through an asyncio StreamReader (a wake-up of the reading task, then seven awaiting
frames resumed in turn), redis-py's reply reading and its timeout context: ~45 us of the ~175 us
the process spends on an event after waking, cold (BENCHMARKS.md, round 12). Here the connection
is made and greeted by redis-py as usual (HELLO, AUTH, SELECT), and then its transport is handed
to `ReplyReader`: each chunk of bytes goes straight into the connection's own hiredis reader, and
a complete reply resolves the one command waiting for it.

One command at a time (the caller holds a lock). Any failure (the connection lost, no reply within
the timeout, the waiting command cancelled) leaves the connection closed, as redis-py's own reading
does, so no reply is ever read for the wrong command; the caller connects again.
"""

from __future__ import annotations

import asyncio
from typing import Any

# NOT_ENOUGH_DATA: what the connection's hiredis reader gives while a reply is incomplete,
# redis-py's own sentinel, which it configures the reader with (imported, not copied: should
# redis-py move it, this import fails at once rather than a reply being mistaken for none).
from redis._parsers.hiredis import NOT_ENOUGH_DATA
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError


class ReplyReader(asyncio.Protocol):
    """The protocol of a connected redis-py connection's transport, from `take_over` on."""

    def __init__(self, connection: AbstractConnection) -> None:
        writer: Any = connection._writer
        self.connection = connection
        self.transport: asyncio.WriteTransport = writer.transport
        #: redis-py's own protocol: told when the transport closes, so that its disconnect,
        #: which waits for that, does not wait for ever.
        self._streams: asyncio.BaseProtocol = self.transport.get_protocol()
        self._reader: Any = connection._parser._reader  # type: ignore[attr-defined]
        self._waiter: asyncio.Future[Any] | None = None
        self.lost = False

    @classmethod
    def take_over(cls, connection: AbstractConnection) -> ReplyReader:
        """Read `connection`'s replies from now on (it is connected and nothing is pending)."""
        replies = cls(connection)
        replies.transport.set_protocol(replies)
        return replies

    # ------------------------------------------------------------------ asyncio.Protocol

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        waiter = self._waiter
        if waiter is None or waiter.done():
            return  # nothing asked: kept in the reader (the next command closes on it)
        try:
            reply = self._reader.gets()
        except Exception as error:  # a protocol error: the connection cannot go on
            waiter.set_exception(RedisConnectionError(f"Error while reading from Redis: {error}"))
            self.transport.close()
            return
        if reply is not NOT_ENOUGH_DATA:
            waiter.set_result(reply)

    def eof_received(self) -> bool:
        return False  # the transport closes itself: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(RedisConnectionError(f"Connection closed by server: {exc or 'EOF'}"))
        self._streams.connection_lost(exc)

    # ------------------------------------------------------------------ commands

    async def command(self, packed: bytes, reply_within: float | None) -> Any:
        """Send one packed command and return its reply (a reply error is raised, as redis-py
        raises it); the connection is closed on any failure. `reply_within`: seconds before a
        missing reply is a timeout (a timer the loop keeps, not an `asyncio.timeout` context,
        which costs several Python calls a read)."""
        try:
            if self.lost:
                raise RedisConnectionError("Connection closed by server.")
            if self._reader.gets() is not NOT_ENOUGH_DATA:
                raise RedisConnectionError("A reply came that no command asked for.")
            self.transport.write(packed)
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            timer = None if reply_within is None else loop.call_later(reply_within, _time_out, waiter)
            try:
                reply = await waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
        except BaseException:
            await self.connection.disconnect(nowait=True)
            raise
        if isinstance(reply, ResponseError):
            raise reply
        if isinstance(reply, RedisConnectionError):
            await self.connection.disconnect(nowait=True)
            raise reply
        return reply


def _time_out(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_exception(RedisTimeoutError("Timeout reading from Redis"))
