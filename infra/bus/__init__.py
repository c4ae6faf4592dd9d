"""The event bus: event records in a stream, in each request's history order, read once per process.

API (small on purpose; GraphQL subscriptions and webhook deliveries are built on it):

- ``EventBus.publish(event)``: append one ``models.events.UpdateRequestChanged`` record to the
  deployment's stream (its id, the record's place, comes back).
- ``EventBus.subscribe(max_queued=..., overflow=...)``: local subscriber of events (bounded
  queues, progress coalescing, overflow policies and ``Gap`` markers: ``fanout``).
- ``EventBus.add_listener(listener)``: batches of ``EventRecord`` (with ids) in stream order (the
  live hub of an API process).
- ``EventBus.stream``: the reader API (``stream.EventStream``: read after an id, wait for new
  records, is a record still kept); ``follow(stream, after)`` reads on forever, with reconnects,
  and from a new stream's start when the one it read was replaced (``stream_replaced``).
- ``public_cursor`` / ``record_id_of``: the opaque cursor clients see for a record id.
- ``InProcessBus``: one process (the embedded default); ``RedisBus``: a Redis Stream.
- ``install_bus_sink(bus)``: publish every domain event after commit; returns the uninstaller.
- ``make_bus(settings)``: the bus the settings ask for.
"""

from __future__ import annotations

from infra.bus.base import RecordListener, StreamBus
from infra.bus.fanout import DEFAULT_SUBSCRIBER_QUEUE, Gap, OverflowPolicy, SubscriberOverflow, Subscription
from infra.bus.inprocess import EventBus, InProcessBus, install_bus_sink
from infra.bus.memory import MemoryStream
from infra.bus.records import STREAM_START, EventRecord, id_time, public_cursor, record_id_of
from infra.bus.redis import RedisBus
from infra.bus.redis_stream import RedisStream
from infra.bus.stream import RETAIN_ENTRIES, RETAIN_SECONDS, EventStream, FollowState, follow, stream_replaced
from infra.settings import Settings


def make_bus(settings: Settings) -> InProcessBus | RedisBus:
    """Redis with `REDIS_URL`, else the in-process bus of the embedded default (not started)."""
    if settings.redis_url:
        return RedisBus(settings.redis_url, settings.redis_namespace)
    return InProcessBus()


__all__ = [
    "DEFAULT_SUBSCRIBER_QUEUE",
    "RETAIN_ENTRIES",
    "RETAIN_SECONDS",
    "STREAM_START",
    "EventBus",
    "EventRecord",
    "EventStream",
    "FollowState",
    "Gap",
    "InProcessBus",
    "MemoryStream",
    "OverflowPolicy",
    "RecordListener",
    "RedisBus",
    "RedisStream",
    "StreamBus",
    "SubscriberOverflow",
    "Subscription",
    "follow",
    "id_time",
    "install_bus_sink",
    "make_bus",
    "public_cursor",
    "record_id_of",
    "stream_replaced",
]
