"""Dispatch is woken by what makes a request due, not by the scheduler's poll: every test here
sets the fallback poll (scheduler_interval) to an hour, so only the wake-up can start the request
within the bound the test awaits."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from infra.settings import Settings
from models.enums import EnvironmentKind, UpdateKind, UpdateStatus
from models.events import UpdateRequestChanged, add_event_sink, remove_event_sink
from models.requests.requesting import request_update
from models.requests.staff import schedule_update_request
from models.tables import UpdateRequest
from tests import support
from tests.workers.scenario import make_scene
from workers.runtime import embedded_runtime
from workers.scheduler import seconds_to_next_start

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
