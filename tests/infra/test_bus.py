"""The event bus: per-subscriber queues (coalescing, overflow policies, gap markers) and the Redis
listener (one subscription per process, reconnect after a restart of a private redis-server)."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from infra.bus import Gap, InProcessBus, RedisBus, SubscriberOverflow, Subscription
from models.enums import EventType, UpdateStatus
from models.events import ProgressReport, UpdateRequestChanged
from tests.support_live import private_redis, wait_until

NOW = datetime(2026, 10, 1, tzinfo=UTC)


def status(request_id: int, to: UpdateStatus = UpdateStatus.SCHEDULED) -> UpdateRequestChanged:
    return UpdateRequestChanged(EventType.STATUS_CHANGED, request_id, 1, to, NOW)


def progress(request_id: int, percent: int) -> UpdateRequestChanged:
    report = ProgressReport(percent, "copy", None, NOW)
    return UpdateRequestChanged(EventType.PROGRESS, request_id, 1, UpdateStatus.IN_PROGRESS, NOW, report)


async def drain(subscription: Subscription) -> list[UpdateRequestChanged | Gap]:
    """What is queued now, in order (never waits: the queue is not empty)."""
    items: list[UpdateRequestChanged | Gap] = []
    while len(subscription):
        items.append(await subscription.next_item())
    return items


def percents(items: list[UpdateRequestChanged | Gap]) -> list[object]:
    return [
        item.progress.percent if isinstance(item, UpdateRequestChanged) and item.progress else item
        for item in items
    ]


# --------------------------------------------------------------------------- queues


async def test_progress_is_coalesced_only_under_pressure() -> None:
    bus = InProcessBus()
    subscription = bus.subscribe(3, overflow="close")
    for percent in (10, 20, 30):
        await bus.publish(progress(7, percent))
    assert len(subscription) == 3 and subscription.coalesced == 0  # room: every report kept
    await bus.publish(progress(7, 40))  # full: the latest report replaces its predecessor
    await bus.publish(status(7, UpdateStatus.COMPLETED))  # a status change evicts the oldest report
    items = await drain(subscription)
    assert [i.type for i in items if isinstance(i, UpdateRequestChanged)] == [
        EventType.PROGRESS,
        EventType.PROGRESS,
        EventType.STATUS_CHANGED,
    ]
    assert percents(items)[:2] == [20, 40]
    assert not subscription.closed and subscription.dropped == 0


async def test_a_report_never_jumps_ahead_of_a_later_status_change() -> None:
    bus = InProcessBus()
    subscription = bus.subscribe(2, overflow="close")
    await bus.publish(progress(7, 10))
    await bus.publish(status(7, UpdateStatus.UNABLE_TO_COMPLETE))
    await bus.publish(progress(7, 20))  # full; the queued report precedes the status change
    items = await drain(subscription)
    assert [type(i).__name__ for i in items] == ["UpdateRequestChanged", "UpdateRequestChanged"]
    assert [i.type for i in items if isinstance(i, UpdateRequestChanged)] == [
        EventType.STATUS_CHANGED,
        EventType.PROGRESS,
    ]
    assert percents(items)[1] == 20


async def test_close_policy_keeps_every_status_change_or_closes() -> None:
    bus = InProcessBus()
    subscription = bus.subscribe(2, overflow="close")
    for request_id in (1, 2, 3):
        await bus.publish(status(request_id))
    assert subscription.overflowed and subscription.closed and bus.subscriber_count == 0
    # What was queued is still read, then the overflow is reported: never a silent loss.
    assert [(await subscription.__anext__()).update_request_id for _ in range(2)] == [1, 2]
    with pytest.raises(SubscriberOverflow):
        await subscription.__anext__()


async def test_drop_oldest_policy_counts_and_marks_the_gap() -> None:
    bus = InProcessBus()
    subscription = bus.subscribe(2)
    for request_id in (1, 2, 3, 4):
        await bus.publish(status(request_id))
    assert subscription.dropped == 2 and not subscription.closed
    items = await drain(subscription)
    assert [i.update_request_id if isinstance(i, UpdateRequestChanged) else i.reason for i in items] == [
        "dropped",
        3,
        4,
    ]


async def test_plain_iteration_skips_gaps_and_items_shows_them() -> None:
    bus = InProcessBus()
    plain, aware = bus.subscribe(), bus.subscribe()
    for subscription in (plain, aware):
        subscription.offer_gap(Gap("reconnected"))
        subscription.offer_gap(Gap("reconnected"))  # consecutive gaps collapse into one
    await bus.publish(status(5))
    await bus.close()
    assert [event.update_request_id async for event in plain] == [5]
    seen = [item async for item in aware.items()]
    assert [type(item).__name__ for item in seen] == ["Gap", "UpdateRequestChanged"]


# --------------------------------------------------------------------------- Redis


async def test_one_blocking_reader_per_process_and_fan_out(tmp_path: Path) -> None:
    async with private_redis(tmp_path) as redis:
        namespace = f"bus-{uuid.uuid4().hex[:8]}"
        async with RedisBus(redis.url, namespace) as first, RedisBus(redis.url, namespace) as second:
            await asyncio.wait_for(first.listening.wait(), 10)
            await asyncio.wait_for(second.listening.wait(), 10)
            subscribers = [first.subscribe() for _ in range(3)] + [second.subscribe()]
            client = aioredis.Redis.from_url(redis.url)

            async def blocked_readers() -> list[str]:
                return [entry["id"] for entry in await client.client_list() if entry.get("cmd") == "xread"]

            async def two_readers() -> bool:
                return len(await blocked_readers()) == 2

            try:
                # Four subscribers, two processes: two blocking reads on the stream, no more.
                await wait_until(two_readers, "both readers blocked on the stream")
                await first.publish(status(9))
                for subscriber in subscribers:
                    event = await asyncio.wait_for(subscriber.__anext__(), 10)
                    assert event == status(9)
                await wait_until(two_readers, "both readers blocked again, and no other")
            finally:
                await client.aclose()


async def test_reader_reconnects_and_marks_the_gap(tmp_path: Path) -> None:
    async with private_redis(tmp_path) as redis, RedisBus(redis.url, f"bus-{uuid.uuid4().hex[:8]}") as bus:
        await asyncio.wait_for(bus.listening.wait(), 10)
        subscription = bus.subscribe()
        items = subscription.items()

        await redis.stop()
        await wait_until(lambda: not bus.listening.is_set(), "the reader to notice the outage")
        started = time.monotonic()
        with pytest.raises(RedisError):
            await bus.publish(status(1))  # lost while Redis is down, and quickly so
        assert time.monotonic() - started < 3

        await redis.start()
        gap = await asyncio.wait_for(anext(items), 10)
        assert isinstance(gap, Gap) and gap.reason == "reconnected" and gap.since is not None
        assert bus.reconnects == 1 and bus.reconnect_attempts >= 1
        await bus.publish(status(2))
        event = await asyncio.wait_for(anext(items), 10)
        assert isinstance(event, UpdateRequestChanged) and event.update_request_id == 2
