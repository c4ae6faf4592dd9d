"""Dispatch is woken by what makes a request due, not by the scheduler's poll: every test here
sets the fallback poll (scheduler_interval) to an hour, so only the wake-up can start the request
within the bound the test awaits. Across processes, the append of a waking record leaves a token
that the scheduler process blocks on."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest
import redis.asyncio as aioredis

from infra.bus import RedisStream
from infra.bus.redis_stream import WAKE_TOKEN_TTL_MS, dispatch_wake_key
from infra.settings import Settings
from models.enums import EnvironmentKind, EventType, UpdateKind, UpdateStatus
from models.events import UpdateRequestChanged, add_event_sink, remove_event_sink
from models.requests.requesting import request_update
from models.requests.staff import schedule_update_request
from models.tables import UpdateRequest
from tests import support
from tests.support_live import private_redis, wait_until
from tests.workers.conftest import REDIS_URL
from tests.workers.scenario import make_scene
from workers.dispatch_wake import DispatchWaker
from workers.runtime import embedded_runtime
from workers.scheduler import Scheduler, seconds_to_next_start

POLL = 3600.0
#: Bounds the wait for the start; far below POLL, so only a wake-up can meet it.
WITHIN = 15.0
AHEAD = timedelta(milliseconds=500)


async def test_a_request_due_in_a_moment_starts_when_due_not_on_the_next_poll(
    db: support.TestDatabase,
) -> None:
    scene = await make_scene()
    settings = Settings(database_url=db.url, simulated_step_seconds=0, scheduler_interval=POLL)
    started = asyncio.Event()
    seen: dict[UpdateStatus, datetime] = {}

    async def on_event(event: UpdateRequestChanged) -> None:
        seen.setdefault(event.status, datetime.now(UTC))
        if event.status is UpdateStatus.IN_PROGRESS:
            started.set()

    add_event_sink(on_event)
    try:
        async with embedded_runtime(settings) as runtime:
            assert runtime.scheduler is not None
            request = await request_update(
                scene.requester,
                district_id=scene.district.id,
                kind=UpdateKind.DATABASE_REFRESH,
                environment=EnvironmentKind.SANDBOX,
            )
            due = datetime.now(UTC) + AHEAD
            await schedule_update_request(scene.staff, request.id, due, override_maintenance_window=True)
            await asyncio.wait_for(started.wait(), WITHIN)
            assert runtime.embedded_queue is not None
            await runtime.embedded_queue.wait_idle(WITHIN)
    finally:
        remove_event_sink(on_event)
    assert seen[UpdateStatus.NOT_STARTED] >= due  # never before its time
    assert (await UpdateRequest.get(id=request.id)).status is UpdateStatus.COMPLETED


async def test_the_loop_sleeps_until_the_next_start_when_it_comes_before_the_poll(
    db: support.TestDatabase,
) -> None:
    scene = await make_scene()
    now = datetime.now(UTC)
    assert await seconds_to_next_start(POLL, now) == POLL  # nothing scheduled: the poll
    request = await request_update(
        scene.requester,
        district_id=scene.district.id,
        kind=UpdateKind.DATABASE_REFRESH,
        environment=EnvironmentKind.SANDBOX,
    )
    await schedule_update_request(
        scene.staff, request.id, now + timedelta(seconds=30), override_maintenance_window=True
    )
    assert await seconds_to_next_start(POLL, now) == 30.0
    assert await seconds_to_next_start(10.0, now) == 10.0  # the poll comes first
    # Once due, it is the pass's to start, not the sleep's: the next start after it counts.
    assert await seconds_to_next_start(POLL, now + timedelta(seconds=31)) == POLL


# --------------------------------------------------------------------------- across processes


def waking_event(request_id: int, to: UpdateStatus, source: UpdateStatus | None) -> UpdateRequestChanged:
    return UpdateRequestChanged(EventType.STATUS_CHANGED, request_id, 1, to, datetime.now(UTC), None, source)


@pytest.fixture
async def redis_stream(run_id: str) -> AsyncIterator[RedisStream]:
    client = aioredis.Redis.from_url(REDIS_URL, socket_timeout=5)
    stream = RedisStream(client, f"{run_id}-wake-{uuid.uuid4().hex[:8]}")
    yield stream
    keys = [key async for key in client.scan_iter(f"{stream.namespace}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_waking_moves_leave_one_token_per_signal_in_the_same_append(redis_stream: RedisStream) -> None:
    client = aioredis.Redis.from_url(REDIS_URL, socket_timeout=5)
    scheduled, freed = (dispatch_wake_key(redis_stream.namespace, s) for s in ("scheduled", "freed"))
    try:
        await redis_stream.append(waking_event(1, UpdateStatus.SCHEDULED, UpdateStatus.TO_BE_SCHEDULED))
        assert (await client.llen(scheduled), await client.llen(freed)) == (1, 0)
        for request_id in (2, 3, 4):  # a burst of finished requests: one token waits, not three
            await redis_stream.append(
                waking_event(request_id, UpdateStatus.COMPLETED, UpdateStatus.IN_PROGRESS)
            )
        await redis_stream.append(waking_event(5, UpdateStatus.IN_PROGRESS, UpdateStatus.NOT_STARTED))
        assert (await client.llen(scheduled), await client.llen(freed)) == (1, 1)
        assert 0 < await client.pttl(freed) <= WAKE_TOKEN_TTL_MS  # an unread token does not linger
    finally:
        await client.aclose()


class Signals:
    """The scheduler's side of the wake loop: what it was told."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[str] = asyncio.Queue()

    def signal(self, signal: str) -> None:
        self.received.put_nowait(signal)

    def wake(self) -> None:
        self.received.put_nowait("wake")


async def test_the_scheduler_process_wakes_on_the_tokens_of_other_processes(
    redis_stream: RedisStream,
) -> None:
    signals = Signals()
    waker = DispatchWaker(REDIS_URL, redis_stream.namespace, cast(Scheduler, signals))
    waker.start()
    try:
        await redis_stream.append(waking_event(1, UpdateStatus.SCHEDULED, UpdateStatus.TO_BE_SCHEDULED))
        assert await asyncio.wait_for(signals.received.get(), WITHIN) == "scheduled"
        await redis_stream.append(waking_event(1, UpdateStatus.NOT_STARTED, UpdateStatus.SCHEDULED))
        await redis_stream.append(waking_event(2, UpdateStatus.UNABLE_TO_COMPLETE, UpdateStatus.IN_PROGRESS))
        assert await asyncio.wait_for(signals.received.get(), WITHIN) == "freed"
        assert signals.received.empty()  # NOT_STARTED signals nothing
    finally:
        await asyncio.wait_for(waker.close(), WITHIN)  # stops within one blocking pop


async def test_after_redis_was_away_one_pass_runs_and_tokens_wake_the_scheduler_again(tmp_path: Path) -> None:
    """Tokens pushed while Redis was away (or lost with it) are gone: the scheduler runs one pass
    as soon as Redis answers again, and later tokens wake it as before."""
    signals = Signals()
    async with private_redis(tmp_path) as server:
        client = aioredis.Redis.from_url(server.url, socket_timeout=5)
        stream = RedisStream(client, f"wake-{uuid.uuid4().hex[:8]}")
        waker = DispatchWaker(server.url, stream.namespace, cast(Scheduler, signals))
        waker.start()
        try:
            await stream.append(waking_event(1, UpdateStatus.SCHEDULED, UpdateStatus.TO_BE_SCHEDULED))
            assert await asyncio.wait_for(signals.received.get(), WITHIN) == "scheduled"
            await server.stop()
            await wait_until(lambda: waker.outages == 1, "the waker to notice Redis went away")
            assert signals.received.empty()
            await server.start()  # same port, empty: nothing of before survived
            assert await asyncio.wait_for(signals.received.get(), WITHIN) == "wake"  # the one pass
            await client.aclose()  # its connection died with the server
            client = aioredis.Redis.from_url(server.url, socket_timeout=5)
            stream = RedisStream(client, stream.namespace)
            await stream.append(waking_event(2, UpdateStatus.COMPLETED, UpdateStatus.IN_PROGRESS))
            assert await asyncio.wait_for(signals.received.get(), WITHIN) == "freed"
            assert waker.outages == 1 and signals.received.empty()
        finally:
            await asyncio.wait_for(waker.close(), WITHIN)
            await client.aclose()
