"""Events over a Redis Stream: ordered appends from every process, one blocking reader per
process fanned out locally (see `infra.bus.base` and `infra.bus.redis_stream`).

The reader reconnects with backoff when Redis goes away; it then reads on after the last record
it saw (a restarted Redis with persistence lost nothing that was in) and hands every consumer a
``Gap("reconnected")`` for what may have been lost while it was away (appends that failed). A
stream that came back as another one (empty, its ids below that record's) is read from its
start instead (`infra.bus.stream`).
"""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff, NoBackoff

from infra.bus.base import StreamBus
from infra.bus.ordering import HOLD_SECONDS
from infra.bus.redis_stream import RedisStream
from infra.bus.stream import READ_BLOCK_SECONDS, RETAIN_ENTRIES, RETAIN_SECONDS

#: Redis socket timeouts, seconds: every command gives up after REDIS_SOCKET_TIMEOUT instead of
#: hanging on a dead server.
REDIS_SOCKET_TIMEOUT = 5.0
REDIS_CONNECT_TIMEOUT = 5.0
#: The reader's socket timeout: longer than one blocking read, so that a quiet stream is not
#: taken for a dead connection, and a dead connection is noticed within this.
READER_SOCKET_TIMEOUT = READ_BLOCK_SECONDS + REDIS_SOCKET_TIMEOUT
#: Retries of a failed append (connection lost): how many, and the backoff (seconds).
PUBLISH_RETRIES = 2
PUBLISH_RETRY_BASE = 0.05
PUBLISH_RETRY_CAP = 0.5


def redis_client(url: str) -> aioredis.Redis:
    """The writing client: a few quick retries, so that an append during an outage fails within
    about a second instead of holding the committed operation back (the record is then lost,
    the state is not; readers resynchronise when they read again)."""
    return aioredis.Redis.from_url(
        url,
        socket_timeout=REDIS_SOCKET_TIMEOUT,
        socket_connect_timeout=REDIS_CONNECT_TIMEOUT,
        retry=Retry(ExponentialBackoff(cap=PUBLISH_RETRY_CAP, base=PUBLISH_RETRY_BASE), PUBLISH_RETRIES),
    )


def reader_client(url: str) -> aioredis.Redis:
    """The blocking reader's client: no silent retries (a lost connection must be seen, so the
    consumers hear of the gap), and one connection (`max_connections=1`)."""
    return aioredis.Redis.from_url(
        url,
        socket_timeout=READER_SOCKET_TIMEOUT,
        socket_connect_timeout=REDIS_CONNECT_TIMEOUT,
        socket_keepalive=True,
        retry=Retry(NoBackoff(), 0),
        max_connections=1,
    )


class RedisBus(StreamBus):
    """``start()`` (or ``async with``) begins reading; a publish-only process (worker, scheduler
    that only writes) may skip it. Must be used on one event loop."""

    stream: RedisStream

    def __init__(
        self,
        url: str,
        namespace: str,
        *,
        retain_entries: int = RETAIN_ENTRIES,
        retain_seconds: float = RETAIN_SECONDS,
        hold_seconds: float = HOLD_SECONDS,
    ) -> None:
        self._client = redis_client(url)
        self._reader_client = reader_client(url)
        super().__init__(
            RedisStream(
                self._client,
                namespace,
                reader=self._reader_client,
                retain_entries=retain_entries,
                retain_seconds=retain_seconds,
            ),
            hold_seconds=hold_seconds,
        )

    async def trim(self, newest_id: str) -> None:
        await self.stream.trim(newest_id)

    async def close(self) -> None:
        await super().close()
        await self._reader_client.aclose()
        await self._client.aclose()
