"""The event bus: how status changes and progress reach every API process after commit.

API (small on purpose; GraphQL subscriptions are built on it):

- ``EventBus.publish(event)``: send one ``models.events.UpdateRequestChanged`` to every subscriber
  of every process sharing the bus.
- ``EventBus.subscribe(max_queued=..., overflow=...)``: an async iterator of events (also an async
  context manager; ``close()`` it, or leave the ``async with``, when done); see ``fanout`` for the
  bounded queues, progress coalescing, overflow policies and ``Gap`` markers.
- ``InProcessBus``: one process (the embedded default).
- ``RedisBus``: Redis pub/sub, one subscription per process fanned out in-process (``redis``).
- ``install_bus_sink(bus)``: publish every domain event after commit; returns the uninstaller.
- ``make_bus(settings)``: the bus the settings ask for.
"""

from __future__ import annotations

from infra.bus.fanout import DEFAULT_SUBSCRIBER_QUEUE, Gap, OverflowPolicy, SubscriberOverflow, Subscription
from infra.bus.inprocess import EventBus, InProcessBus, install_bus_sink
from infra.bus.redis import RedisBus
from infra.settings import Settings


def make_bus(settings: Settings) -> InProcessBus | RedisBus:
    """Redis with `REDIS_URL`, else the in-process bus of the embedded default (not started)."""
    if settings.redis_url:
        return RedisBus(settings.redis_url, settings.redis_namespace)
    return InProcessBus()


__all__ = [
    "DEFAULT_SUBSCRIBER_QUEUE",
    "EventBus",
    "Gap",
    "InProcessBus",
    "OverflowPolicy",
    "RedisBus",
    "SubscriberOverflow",
    "Subscription",
    "install_bus_sink",
    "make_bus",
]
