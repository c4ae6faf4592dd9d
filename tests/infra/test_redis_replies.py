"""The blocking read's connection read by `ReplyReader` (its transport taken over from redis-py):
a missing reply is a timeout that closes it, a cancelled read closes it, a reply error is raised
and the connection goes on, and closing the client does not wait for ever on it."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from infra.bus.redis_stream import RedisStream
from models.enums import EventType, UpdateStatus
from models.events import UpdateRequestChanged
from tests.support_live import REDIS_URL, wait_until

#: A record outside any request's order (no sequence): always appended.
AT = UpdateRequestChanged(
    EventType.STATUS_CHANGED, 1, 5, UpdateStatus.SCHEDULED, datetime(2026, 10, 1, tzinfo=UTC)
)


@pytest_asyncio.fixture
async def clients(run_id: str) -> AsyncIterator[tuple[aioredis.Redis, aioredis.Redis, RedisStream]]:
    client = aioredis.Redis.from_url(REDIS_URL)
    # The stream's reader client waits for a reply at most this long (the blocks below outlast it).
    reader = aioredis.Redis.from_url(REDIS_URL, socket_timeout=0.3, max_connections=1)
    stream = RedisStream(client, f"{run_id}-{os.urandom(4).hex()}", reader=reader)
    try:
        yield client, reader, stream
    finally:
        await client.delete(stream.key, stream.order_key, stream.order_at_key)
        await reader.aclose()
        await client.aclose()


async def test_a_reply_that_does_not_come_in_time_is_a_timeout_and_the_next_read_connects_again(
    clients: tuple[aioredis.Redis, aioredis.Redis, RedisStream],
) -> None:
    _, _, stream = clients
    first = (await stream.append(AT))[1] or ""
    with pytest.raises(RedisTimeoutError):
        await stream.read_new(first, 10, 5.0)  # blocks for 5 s: no reply within 0.3 s
    second = (await stream.append(AT))[1]
    # Had the late empty reply of the timed-out read been kept, this read would return it.
    assert [r.id for r in await stream.read_new(first, 10, 0)] == [second]


async def test_a_read_cancelled_while_it_waits_leaves_no_reply_for_the_next(run_id: str) -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    reader = aioredis.Redis.from_url(REDIS_URL, socket_timeout=30, max_connections=1)
    stream = RedisStream(client, f"{run_id}-{os.urandom(4).hex()}", reader=reader)
    try:
        first = (await stream.append(AT))[1] or ""
        assert await stream.read_new(first, 10, 0) == []  # the held connection is made
        waiting = asyncio.create_task(stream.read_new(first, 10, 20.0))
        await wait_until(
            lambda: stream._replies is not None and stream._replies._waiter is not None,
            "the read's XREAD sent, its reply awaited",
        )
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        second = (await stream.append(AT))[1] or ""  # what the cancelled XREAD would be answered
        # Nothing came after `second`: a reply kept from the cancelled read would say [second].
        assert await stream.read_new(second, 10, 0) == []
        assert [r.id for r in await stream.read_new(first, 10, 0)] == [second]
    finally:
        await client.delete(stream.key, stream.order_key, stream.order_at_key)
        await reader.aclose()
        await client.aclose()


async def test_a_reply_error_is_raised_and_the_connection_goes_on(
    clients: tuple[aioredis.Redis, aioredis.Redis, RedisStream],
) -> None:
    client, _, stream = clients
    await client.set(stream.key, "not a stream")
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await stream.read_new("0-0", 10, 0)
    await client.delete(stream.key)
    record = (await stream.append(AT))[1]
    assert [r.id for r in await stream.read_new("0-0", 10, 0)] == [record]


async def test_closing_the_reader_client_after_reads_does_not_hang(run_id: str) -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    reader = aioredis.Redis.from_url(REDIS_URL, socket_timeout=5)
    stream = RedisStream(client, f"{run_id}-{os.urandom(4).hex()}", reader=reader)
    try:
        record = (await stream.append(AT))[1]
        assert [r.id for r in await stream.read_new("0-0", 10, 0)] == [record]
        async with asyncio.timeout(5):  # redis-py's disconnect waits for the transport's close
            await reader.aclose()
    finally:
        await client.delete(stream.key, stream.order_key, stream.order_at_key)
        await client.aclose()
