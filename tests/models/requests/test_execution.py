"""The worker's side: begin once, progress and checkpoints only while running.
Against a real database, on both backends."""

from __future__ import annotations

from models.enums import (
    EnvironmentKind,
    EventType,
    UpdateStatus,
)
from models.events import add_event_sink, remove_event_sink
from models.requests.completion import fail
from models.requests.execution import begin, finish_step, report_progress
from models.tables import UpdateRequest
from tests.models.scenario import (
    RUN_AT,
    history,
    make_world,
)

S = UpdateStatus
E = EnvironmentKind


async def finished_steps(request_id: int) -> list[str]:
    return list((await UpdateRequest.get(id=request_id)).completed_steps)


async def test_a_redelivered_job_touches_nothing_while_another_holds_the_lease(db):
    world = await make_world()
    request = await world.request_version()
    await world.drive(request.id, S.IN_PROGRESS)
    held = await UpdateRequest.get(id=request.id)
    assert await begin(request.id, now=RUN_AT) is None
    stored = await UpdateRequest.get(id=request.id)
    assert (stored.attempts, stored.lease_token, stored.lease_expires_at) == (
        1,
        held.lease_token,
        held.lease_expires_at,
    )
    assert [t for _, t, _ in await history(request.id)].count(S.IN_PROGRESS) == 1
    cancelled = await world.request_refresh()
    await world.cancel(cancelled.id)
    assert await begin(cancelled.id, now=RUN_AT) is None
    assert await begin(999_999, now=RUN_AT) is None


async def test_progress_and_checkpoints_only_while_running(db):
    world = await make_world()
    request = await world.request_version()
    assert not await report_progress(request.id, 10, "backup")
    assert not await finish_step(request.id, "backup", 15)
    await world.drive(request.id, S.IN_PROGRESS)
    assert await report_progress(request.id, 140, "backup", "copying", now=RUN_AT)
    stored = await UpdateRequest.get(id=request.id)
    assert (stored.progress_percent, stored.progress_step, stored.progress_message) == (
        100,
        "backup",
        "copying",
    )
    assert await finish_step(request.id, "backup", 15)
    assert await finish_step(request.id, "backup", 15)
    assert await finish_step(request.id, "upgrade", 60)
    assert await finished_steps(request.id) == ["backup", "upgrade"]


async def test_finish_step_checkpoints_and_stores_done_progress_in_one_write(db):
    world = await make_world()
    request = await world.request_version()
    assert not await finish_step(request.id, "backup", 15, "done", known_steps=[])
    assert not await finish_step(request.id, "backup", 15, "done")
    await world.drive(request.id, S.IN_PROGRESS)
    events = []

    async def sink(event):
        events.append(event)

    add_event_sink(sink)
    try:
        # The compare-and-set path, then a stale view (another delivery checkpointed "stop_site"
        # meanwhile): merged under the row lock, nothing lost, nothing repeated.
        assert await finish_step(request.id, "backup", 15, "Back up: done", now=RUN_AT, known_steps=[])
        await UpdateRequest.filter(id=request.id).update(completed_steps=["backup", "stop_site"])
        assert await finish_step(
            request.id, "install", 60, "Install: done", now=RUN_AT, known_steps=["backup"]
        )
        assert await finish_step(request.id, "install", 60, "Install: done", now=RUN_AT)
    finally:
        remove_event_sink(sink)
    assert await finished_steps(request.id) == ["backup", "stop_site", "install"]
    stored = await UpdateRequest.get(id=request.id)
    assert (stored.progress_percent, stored.progress_step, stored.progress_message) == (
        60,
        "install",
        "Install: done",
    )
    assert [(e.type, e.district_id, e.progress.percent) for e in events] == [
        (EventType.PROGRESS, request.district_id, 15),
        (EventType.PROGRESS, request.district_id, 60),
        (EventType.PROGRESS, request.district_id, 60),
    ]
    await fail(request.id, "gave up", now=RUN_AT)
    checkpoints = ["backup", "stop_site", "install"]
    assert not await finish_step(request.id, "verify", 100, "done", known_steps=checkpoints)
    assert await finished_steps(request.id) == checkpoints
