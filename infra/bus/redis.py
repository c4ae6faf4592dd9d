"""Events over Redis pub/sub: one subscription per process, fanned out locally.

Publishes to channel ``f"{namespace}:events"`` as JSON. The listener reconnects with backoff when
Redis goes away (events published meanwhile are lost, state not) and then hands every subscriber
a ``Gap("reconnected")``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime
from types import TracebackType

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from infra.bus.fanout import DEFAULT_SUBSCRIBER_QUEUE, Fanout, Gap, OverflowPolicy, Subscription
from infra.bus.wire import event_from_json, event_to_json
from models.events import UpdateRequestChanged

logger = logging.getLogger(__name__)

#: Reconnect backoff of the Redis listener, seconds: first wait and ceiling.
RECONNECT_BACKOFF_MIN = 0.1
RECONNECT_BACKOFF_MAX = 5.0
#: Redis socket timeouts, seconds. Every command (PUBLISH, SUBSCRIBE, PING) gives up after
#: REDIS_SOCKET_TIMEOUT instead of hanging on a dead server; the listener's reads wait at most
#: LISTEN_POLL_SECONDS at a time, so they never hit the socket timeout while the channel is quiet.
REDIS_SOCKET_TIMEOUT = 5.0
REDIS_CONNECT_TIMEOUT = 5.0
LISTEN_POLL_SECONDS = 1.0
#: The listener PINGs its connection this often; no answer (or any other traffic) within
#: LISTEN_PING_SECONDS + REDIS_SOCKET_TIMEOUT counts as a lost connection (half-open sockets).
LISTEN_PING_SECONDS = 5.0
#: Retries of a failed PUBLISH (connection lost): how many, and the backoff (seconds).
PUBLISH_RETRIES = 2
PUBLISH_RETRY_BASE = 0.05
PUBLISH_RETRY_CAP = 0.5


def redis_client(url: str) -> aioredis.Redis:
    """The publishing client: a few quick retries, so that a publish during an outage fails within
    about a second instead of holding the committed operation back (the event is then lost, the
    state is not; subscribers resynchronise when the listener is back)."""
    return aioredis.Redis.from_url(
        url,
        socket_timeout=REDIS_SOCKET_TIMEOUT,
        socket_connect_timeout=REDIS_CONNECT_TIMEOUT,
        retry=Retry(ExponentialBackoff(cap=PUBLISH_RETRY_CAP, base=PUBLISH_RETRY_BASE), PUBLISH_RETRIES),
    )


def listener_client(url: str) -> aioredis.Redis:
    """The listener's client: no silent retries. redis-py would otherwise reconnect and
    re-subscribe inside a read without telling us, and nobody would know events were missed."""
    return aioredis.Redis.from_url(
        url,
        socket_timeout=REDIS_SOCKET_TIMEOUT,
        socket_connect_timeout=REDIS_CONNECT_TIMEOUT,
        socket_keepalive=True,
        retry=Retry(NoBackoff(), 0),
    )


class RedisBus:
    """Events over Redis pub/sub: one subscription per process, fanned out locally.

    ``start()`` (or ``async with``) opens the listener; a publish-only process (worker,
    scheduler) may skip it. Must be started and used on one event loop.
    """

    def __init__(self, url: str, namespace: str) -> None:
        self.channel = f"{namespace}:events"
        self._url = url
        self._client: aioredis.Redis | None = None
        self._fanout = Fanout()
        self._listener: asyncio.Task[None] | None = None
        #: Set while the listener holds a live subscription (tests and /readyz may await it).
        self.listening = asyncio.Event()
        #: Subscriptions restored after a loss, and failed attempts (for tests and metrics).
        self.reconnects = 0
        self.reconnect_attempts = 0
        self._lost = False
        self._lost_at: datetime | None = None

    def _redis(self) -> aioredis.Redis:
        if self._client is None:
            self._client = redis_client(self._url)
        return self._client

    async def publish(self, event: UpdateRequestChanged) -> None:
        await self._redis().publish(self.channel, event_to_json(event))

    def subscribe(
        self, max_queued: int = DEFAULT_SUBSCRIBER_QUEUE, *, overflow: OverflowPolicy = "drop_oldest"
    ) -> Subscription:
        return self._fanout.add(max_queued, overflow)

    @property
    def subscriber_count(self) -> int:
        return len(self._fanout)

    async def start(self) -> None:
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name=f"redis-bus {self.channel}")

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        self._fanout.close_all()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> RedisBus:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _listen(self) -> None:
        backoff = RECONNECT_BACKOFF_MIN
        while True:
            try:
                await self._listen_once()
            except (RedisError, OSError) as error:
                self.listening.clear()
                if not self._lost:
                    self._lost = True
                    self._lost_at = datetime.now(UTC)
                self.reconnect_attempts += 1
                logger.warning("event bus: Redis subscription lost (%s); retrying in %.1fs", error, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, RECONNECT_BACKOFF_MAX)
            else:
                backoff = RECONNECT_BACKOFF_MIN

    async def _listen_once(self) -> None:
        client = listener_client(self._url)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self.channel)
            self.listening.set()
            if self._lost:
                # Events published while we were away are gone: subscribers reload what they show.
                self._lost = False
                self.reconnects += 1
                logger.info("event bus: Redis subscription to %s restored", self.channel)
                self._fanout.deliver_gap(Gap("reconnected", since=self._lost_at))
            last_seen = last_ping = time.monotonic()
            while True:
                now = time.monotonic()
                if now - last_ping >= LISTEN_PING_SECONDS:
                    await pubsub.ping()
                    last_ping = now
                if now - last_seen > LISTEN_PING_SECONDS + REDIS_SOCKET_TIMEOUT:
                    raise RedisConnectionError("no answer from Redis on the event channel")
                message = await pubsub.get_message(timeout=LISTEN_POLL_SECONDS)
                if message is None:
                    continue
                last_seen = time.monotonic()
                if message.get("type") != "message":
                    continue
                try:
                    event = event_from_json(message["data"])
                except (ValueError, KeyError, TypeError):
                    logger.warning("event bus: ignoring a malformed event on %s", self.channel)
                    continue
                self._fanout.deliver(event)
        finally:
            self.listening.clear()
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            with contextlib.suppress(Exception):
                await client.aclose()
