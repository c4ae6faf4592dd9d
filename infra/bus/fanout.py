"""Local subscribers of one process: bounded queues with progress coalescing and overflow policies.

Each subscriber has its own bounded queue. When it is full, PROGRESS events are coalesced first
(the request row keeps the latest progress anyway). Then ``overflow`` decides: ``"drop_oldest"``
(default) loses the oldest events (``dropped`` counts them), ``"close"`` never loses a CREATED /
STATUS_CHANGED / REMOVED: it closes the subscriber (``overflowed``) and its iterator raises
``SubscriberOverflow``. ``Subscription.items()`` also yields ``Gap`` markers: "events may have been
missed here, reload from the database" (after a Redis outage, or after drops).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Literal

from models.enums import EventType
from models.events import UpdateRequestChanged

logger = logging.getLogger(__name__)

#: Events a subscriber may fall behind by before its oldest ones are dropped.
DEFAULT_SUBSCRIBER_QUEUE = 1000


@dataclass(frozen=True)
class Gap:
    """In a subscriber's stream (``Subscription.items()`` only): events may have been missed here.

    Raised after the Redis listener re-subscribed following an outage (``reason`` "reconnected"),
    after it found the stream replaced under it and read the new one from its start
    (``"stream_replaced"``),
    or after a ``drop_oldest`` subscriber lost events (``reason`` "dropped"). A subscriber that
    keeps state should reload it from the database, which is the source of truth.
    """

    reason: str
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: "reconnected": when the subscription was lost (events from then on may be missing);
    #: "stream_replaced": when the old stream was last seen.
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
