"""The event bus: how status changes and progress reach every API process after commit.

API (small on purpose; GraphQL subscriptions are built on it):

- ``EventBus.publish(event)``: send one ``models.events.UpdateRequestChanged`` to every subscriber
  of every process sharing the bus.
- ``EventBus.subscribe(max_queued=..., overflow=...)``: an async iterator of events (also an async
  context manager; ``close()`` it, or leave the ``async with``, when done). Each subscriber has its
  own bounded queue. When it is full, PROGRESS events are coalesced first (the request row keeps
  the latest progress anyway). Then ``overflow`` decides: ``"drop_oldest"`` (default) loses the
  oldest events (``dropped`` counts them), ``"close"`` never loses a CREATED / STATUS_CHANGED /
  REMOVED: it closes the subscriber (``overflowed``) and its iterator raises
  ``SubscriberOverflow``. ``Subscription.items()`` also yields ``Gap`` markers: "events may have
  been missed here, reload from the database" (after a Redis outage, or after drops).
- ``InProcessBus``: one process (the embedded default).
- ``RedisBus``: publishes to Redis channel ``f"{namespace}:events"`` as JSON. Each process holds
  ONE Redis subscription (started by ``start()`` or ``async with``) and fans events out in-process;
  it reconnects with backoff when Redis goes away (events published meanwhile are lost, state
  not) and then hands every subscriber a ``Gap("reconnected")``.
- ``install_bus_sink(bus)``: publish every domain event after commit; returns the uninstaller.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal, Protocol

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from models.enums import EventType, UpdateStatus
from models.events import ProgressReport, UpdateRequestChanged, add_event_sink, remove_event_sink

logger = logging.getLogger(__name__)

#: Events a subscriber may fall behind by before its oldest ones are dropped.
DEFAULT_SUBSCRIBER_QUEUE = 1000
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


@dataclass(frozen=True)
class Gap:
    """In a subscriber's stream (``Subscription.items()`` only): events may have been missed here.

    Raised after the Redis listener re-subscribed following an outage (``reason`` "reconnected"),
    or after a ``drop_oldest`` subscriber lost events (``reason`` "dropped"). A subscriber that
    keeps state should reload it from the database, which is the source of truth.
    """

    reason: str
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: "reconnected": when the subscription was lost (events from then on may be missing).
    since: datetime | None = None


#: What a subscriber's queue holds: events, gap markers, and the end-of-stream sentinel.
BusItem = UpdateRequestChanged | Gap

#: ``overflow="drop_oldest"`` (default): a full queue loses its oldest events (counted in
#: ``dropped``, followed by a ``Gap``). ``overflow="close"``: progress is coalesced, and a
#: subscriber that would have to lose a CREATED / STATUS_CHANGED / REMOVED is closed instead
#: (``overflowed`` set); its iterator raises ``SubscriberOverflow`` once the queued events are read.
OverflowPolicy = Literal["drop_oldest", "close"]


class SubscriberOverflow(Exception):
    """A ``overflow="close"`` subscriber fell so far behind that it would have lost a status change."""


class _Slot:
    """One queued item; PROGRESS slots are replaced in place when coalesced."""

    __slots__ = ("item",)

    def __init__(self, item: BusItem) -> None:
        self.item = item


def _is_progress(item: BusItem) -> bool:
    return isinstance(item, UpdateRequestChanged) and item.type is EventType.PROGRESS


class Subscription:
    """One local subscriber: an async iterator over events, with a bounded queue.

    Under pressure (queue full) PROGRESS events are coalesced first: a newer report replaces the
    queued one of the same request, or the oldest queued report makes room. Only when no progress
    is left to give up does ``overflow`` decide (see ``OverflowPolicy``). The request row keeps the
    latest progress, so a subscriber that reloads the request never loses it.
    """

    def __init__(self, fanout: Fanout, max_queued: int, overflow: OverflowPolicy = "drop_oldest") -> None:
        if max_queued < 1:
            raise ValueError("max_queued must be at least 1")
        self._fanout = fanout
        self.max_queued = max_queued
        self.overflow = overflow
        self._queue: deque[_Slot] = deque()
        #: Queued PROGRESS slot per request that no later event of that request follows.
        self._progress: dict[int, _Slot] = {}
        self._wakeup = asyncio.Event()
        self.dropped = 0
        self.coalesced = 0
        self.gaps = 0
        self.closed = False
        self.overflowed = False

    # ----------------------------------------------------------------- producer side

    def offer(self, event: UpdateRequestChanged) -> None:
        if self.closed:
            return
        if _is_progress(event):
            slot = self._progress.get(event.update_request_id)
            if slot is not None and len(self._queue) >= self.max_queued:
                slot.item = event
                self.coalesced += 1
                return
        if len(self._queue) >= self.max_queued and not self._make_room(event):
            return
        slot = _Slot(event)
        self._queue.append(slot)
        if _is_progress(event):
            self._progress[event.update_request_id] = slot
        else:
            self._progress.pop(event.update_request_id, None)
        self._wakeup.set()

    def offer_gap(self, gap: Gap) -> None:
        """Tell this subscriber it may have missed events. Never dropped; at most one queued at a time."""
        if self.closed:
            return
        if self._queue and isinstance(self._queue[-1].item, Gap):
            return
        self.gaps += 1
        self._queue.append(_Slot(gap))
        self._wakeup.set()

    def _make_room(self, incoming: UpdateRequestChanged) -> bool:
        """Free one place for `incoming`; False when it must not be queued."""
        for slot in self._queue:
            if _is_progress(slot.item):
                self._remove(slot)
                self.coalesced += 1
                return True
        if _is_progress(incoming):
            # Only status changes are queued: this report is the one to give up (the row has it).
            self.coalesced += 1
            return False
        if self.overflow == "close":
            self.overflowed = True
            logger.warning(
                "event bus: subscriber closed, %s events queued and it did not keep up", len(self._queue)
            )
            self.close()
            return False
        # Drop the oldest events; the gap marker goes where they were, at the front (the queue
        # may hold max_queued events plus that one marker).
        marker = self._queue.popleft() if isinstance(self._queue[0].item, Gap) else None
        while self._queue and len(self._queue) >= self.max_queued:
            oldest = self._queue[0]
            self._remove(oldest)
            if isinstance(oldest.item, UpdateRequestChanged):
                self.dropped += 1
        if marker is None:
            self.gaps += 1
            marker = _Slot(Gap("dropped"))
        self._queue.appendleft(marker)
        return True

    def _remove(self, slot: _Slot) -> None:
        self._queue.remove(slot)
        item = slot.item
        if isinstance(item, UpdateRequestChanged) and self._progress.get(item.update_request_id) is slot:
            del self._progress[item.update_request_id]

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._fanout.remove(self)
            self._wakeup.set()

    # ----------------------------------------------------------------- consumer side

    async def next_item(self) -> BusItem:
        """The next event or gap marker; StopAsyncIteration when closed and drained,
        SubscriberOverflow when closed for falling behind."""
        while not self._queue:
            if self.closed:
                if self.overflowed:
                    raise SubscriberOverflow("the subscriber did not keep up with the events")
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()
        slot = self._queue.popleft()
        item = slot.item
        if isinstance(item, UpdateRequestChanged) and self._progress.get(item.update_request_id) is slot:
            del self._progress[item.update_request_id]
        return item

    async def items(self) -> AsyncIterator[BusItem]:
        """Events and ``Gap`` markers, for subscribers that act on gaps."""
        while True:
            try:
                yield await self.next_item()
            except StopAsyncIteration:
                return

    def __len__(self) -> int:
        return len(self._queue)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> UpdateRequestChanged:
        while True:
            item = await self.next_item()
            if isinstance(item, UpdateRequestChanged):
                return item

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

    def add(self, max_queued: int, overflow: OverflowPolicy = "drop_oldest") -> Subscription:
        subscription = Subscription(self, max_queued, overflow)
        self._subscribers.add(subscription)
        return subscription

    def remove(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    def deliver(self, event: UpdateRequestChanged) -> None:
        for subscription in list(self._subscribers):
            subscription.offer(event)

    def deliver_gap(self, gap: Gap) -> None:
        for subscription in list(self._subscribers):
            subscription.offer_gap(gap)

    def close_all(self) -> None:
        for subscription in list(self._subscribers):
            subscription.close()

    def __len__(self) -> int:
        return len(self._subscribers)


# --------------------------------------------------------------------------- buses


class EventBus(Protocol):
    async def publish(self, event: UpdateRequestChanged) -> None: ...

    def subscribe(
        self, max_queued: int = DEFAULT_SUBSCRIBER_QUEUE, *, overflow: OverflowPolicy = "drop_oldest"
    ) -> Subscription: ...

    async def close(self) -> None: ...


class InProcessBus:
    """Events stay inside this process (the embedded default)."""

    def __init__(self) -> None:
        self._fanout = Fanout()

    async def publish(self, event: UpdateRequestChanged) -> None:
        self._fanout.deliver(event)

    def subscribe(
        self, max_queued: int = DEFAULT_SUBSCRIBER_QUEUE, *, overflow: OverflowPolicy = "drop_oldest"
    ) -> Subscription:
        return self._fanout.add(max_queued, overflow)

    @property
    def subscriber_count(self) -> int:
        return len(self._fanout)

    async def close(self) -> None:
        self._fanout.close_all()


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
