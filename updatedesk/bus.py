"""The event bus: how status changes and progress reach every API process after commit.

API (small on purpose; GraphQL subscriptions are built on it):

- ``EventBus.publish(event)``: send one ``models.events.UpdateRequestChanged`` to every subscriber
  of every process sharing the bus.
- ``EventBus.subscribe(max_queued=...)``: an async iterator of events (also an async context
  manager; ``close()`` it, or leave the ``async with``, when done). Each subscriber has its own
  bounded queue; a subscriber too slow to keep up loses its oldest events (``dropped`` counts
  them) and should reload from the database, which is the source of truth.
- ``InProcessBus``: one process (the embedded default).
- ``RedisBus``: publishes to Redis channel ``f"{namespace}:events"`` as JSON. Each process holds
  ONE Redis subscription (started by ``start()`` or ``async with``) and fans events out in-process;
  it reconnects with backoff when Redis goes away (events published meanwhile are lost, state not).
- ``install_bus_sink(bus)``: publish every domain event after commit; returns the uninstaller.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from models.enums import EventType, UpdateStatus
from models.events import ProgressReport, UpdateRequestChanged, add_event_sink, remove_event_sink

logger = logging.getLogger(__name__)

#: Events a subscriber may fall behind by before its oldest ones are dropped.
DEFAULT_SUBSCRIBER_QUEUE = 1000
#: Reconnect backoff of the Redis listener, seconds: first wait and ceiling.
RECONNECT_BACKOFF_MIN = 0.1
RECONNECT_BACKOFF_MAX = 5.0
#: Redis socket timeouts, seconds; the listener polls more often than its read timeout.
REDIS_SOCKET_TIMEOUT = 5.0
REDIS_CONNECT_TIMEOUT = 5.0
LISTEN_POLL_SECONDS = 1.0


# --------------------------------------------------------------------------- wire format


def event_to_json(event: UpdateRequestChanged) -> str:
    progress = event.progress
    return json.dumps(
        {
            "type": event.type.value,
            "updateRequestId": event.update_request_id,
            "districtId": event.district_id,
            "status": event.status.value,
            "at": event.at.isoformat(),
            "progress": None
            if progress is None
            else {
                "percent": progress.percent,
                "step": progress.step,
                "message": progress.message,
                "at": progress.at.isoformat(),
            },
        }
    )


def event_from_json(text: str | bytes) -> UpdateRequestChanged:
    data: dict[str, Any] = json.loads(text)
    raw_progress = data.get("progress")
    progress = (
        None
        if raw_progress is None
        else ProgressReport(
            int(raw_progress["percent"]),
            str(raw_progress["step"]),
            raw_progress.get("message"),
            datetime.fromisoformat(raw_progress["at"]),
        )
    )
    return UpdateRequestChanged(
        EventType(data["type"]),
        int(data["updateRequestId"]),
        int(data["districtId"]),
        UpdateStatus(data["status"]),
        datetime.fromisoformat(data["at"]),
        progress,
    )


# --------------------------------------------------------------------------- subscribers


class Subscription:
    """One local subscriber: an async iterator over events, with a bounded queue."""

    def __init__(self, fanout: Fanout, max_queued: int) -> None:
        self._fanout = fanout
        self._queue: asyncio.Queue[UpdateRequestChanged | None] = asyncio.Queue(max_queued)
        self.dropped = 0
        self.closed = False

    def offer(self, event: UpdateRequestChanged) -> None:
        if self.closed:
            return
        while True:
            try:
                self._queue.put_nowait(event)
                return
            except asyncio.QueueFull:
                self._queue.get_nowait()
                self.dropped += 1

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._fanout.remove(self)
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(None)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> UpdateRequestChanged:
        if self.closed and self._queue.empty():
            raise StopAsyncIteration
        event = await self._queue.get()
        if event is None:
            raise StopAsyncIteration
        return event

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class Fanout:
    """The local subscribers of one process."""

    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()

    def add(self, max_queued: int) -> Subscription:
        subscription = Subscription(self, max_queued)
        self._subscribers.add(subscription)
        return subscription

    def remove(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    def deliver(self, event: UpdateRequestChanged) -> None:
        for subscription in list(self._subscribers):
            subscription.offer(event)

    def close_all(self) -> None:
        for subscription in list(self._subscribers):
            subscription.close()

    def __len__(self) -> int:
        return len(self._subscribers)


# --------------------------------------------------------------------------- buses


class EventBus(Protocol):
    async def publish(self, event: UpdateRequestChanged) -> None: ...

    def subscribe(self, max_queued: int = DEFAULT_SUBSCRIBER_QUEUE) -> Subscription: ...


class InProcessBus:
    """Events stay inside this process (the embedded default)."""

    def __init__(self) -> None:
        self._fanout = Fanout()

    async def publish(self, event: UpdateRequestChanged) -> None:
        self._fanout.deliver(event)

    def subscribe(self, max_queued: int = DEFAULT_SUBSCRIBER_QUEUE) -> Subscription:
        return self._fanout.add(max_queued)

    async def close(self) -> None:
        self._fanout.close_all()


def redis_client(url: str) -> aioredis.Redis:
    return aioredis.Redis.from_url(
        url, socket_timeout=REDIS_SOCKET_TIMEOUT, socket_connect_timeout=REDIS_CONNECT_TIMEOUT
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

    def _redis(self) -> aioredis.Redis:
        if self._client is None:
            self._client = redis_client(self._url)
        return self._client

    async def publish(self, event: UpdateRequestChanged) -> None:
        await self._redis().publish(self.channel, event_to_json(event))

    def subscribe(self, max_queued: int = DEFAULT_SUBSCRIBER_QUEUE) -> Subscription:
        return self._fanout.add(max_queued)

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
                logger.warning("event bus: Redis subscription lost (%s); retrying in %.1fs", error, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, RECONNECT_BACKOFF_MAX)
            else:
                backoff = RECONNECT_BACKOFF_MIN

    async def _listen_once(self) -> None:
        client = redis_client(self._url)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self.channel)
            self.listening.set()
            while True:
                message = await pubsub.get_message(timeout=LISTEN_POLL_SECONDS)
                if message is None or message.get("type") != "message":
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


def install_bus_sink(bus: EventBus) -> Callable[[], None]:
    """Publish every domain event to `bus` after its commit. Returns a function that uninstalls."""

    async def publish(event: UpdateRequestChanged) -> None:
        await bus.publish(event)

    add_event_sink(publish)
    return lambda: remove_event_sink(publish)


async def iterate(bus: EventBus) -> AsyncIterator[UpdateRequestChanged]:
    """Convenience: every event from now on, until the caller stops iterating."""
    async with bus.subscribe() as subscription:
        async for event in subscription:
            yield event
