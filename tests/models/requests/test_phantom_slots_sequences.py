"""Slots a request holds but cannot use, end to end (`scheduleCheck`, staff scheduling,
`scheduleConflicts`, then the dispatcher and the worker's begin): a dispatched request a blackout
added since keeps from beginning, a due request its window has no room left for, and a due request
whose site already runs its target each refuse no other work on the site. What has begun still
holds its site, and the claim still runs one job at a time. Injected clocks; against a real
database, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from models.blackouts import BlackoutScope, create_blackout
from models.enums import EnvironmentKind, UpdateStatus
from models.requests.completion import complete
from models.requests.dispatch import dispatch, dispatch_due
from models.requests.execution import begin
from models.requests.preflight import schedule_check, schedule_conflicts
from models.requests.staff import schedule_update_request
from models.tables import Environment, UpdateRequest
from tests.models.scenario import IN_WINDOW, make_world, status_of

E = EnvironmentKind
S = UpdateStatus
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
#: Thursday 2026-11-05: the seeded window closes at 03:30 CST (09:30 UTC).
CLOSES = datetime(2026, 11, 5, 9, 30, tzinfo=UTC)
#: The next window opens Thursday 2026-11-12 at 00:30 CST.
NEXT_OPENING = datetime(2026, 11, 12, 6, 30, tzinfo=UTC)


async def test_a_dispatched_request_a_blackout_now_covers_refuses_no_other_work(db):
    """The production update is dispatched at 01:00 and its job waits in a backlog; a blackout
    01:05-01:50 is added. It cannot begin before 01:50 (its worker, or the scheduler's lease sweep,
    moves it), yet it was counted as running until 02:00, so a sandbox refresh (which holds
    production too) for 01:50 was refused ENVIRONMENT_BUSY."""
    world = await make_world()
    update = await world.request_version()
    refresh = await world.request_refresh(E.SANDBOX)
    await world.schedule(update.id, IN_WINDOW)
    assert await dispatch(update.id, now=IN_WINDOW)
    await create_blackout(
        world.staff_actor,
        start=IN_WINDOW + 5 * MINUTE,
        end=IN_WINDOW + 50 * MINUTE,
        reason="Switch replacement",
        scope=BlackoutScope(district_id=world.district.id),
        now=IN_WINDOW + MINUTE,
    )
    now = IN_WINDOW + 10 * MINUTE
    after_it = IN_WINDOW + 50 * MINUTE
    verdict = await schedule_check(world.staff_actor, refresh.id, after_it, now=now)
    assert (verdict.findings, verdict.next_possible_start) == ([], after_it)
    await schedule_update_request(world.staff_actor, refresh.id, after_it, now=now)
    assert await schedule_conflicts(world.staff_actor, now=now) == []
    # Its job arrives in the blackout: moved clear of it and of the refresh's hour (01:50-02:50),
    # which leaves too little of the window: next Thursday.
    assert await begin(update.id, now=now) is None
    moved = await UpdateRequest.get(id=update.id)
    assert (moved.status, moved.scheduled_start) == (S.SCHEDULED, NEXT_OPENING)
    assert await dispatch(refresh.id, now=after_it)


async def test_a_dispatched_request_still_holds_its_site_once_the_blackout_is_over(db):
    """Not begun when the blackout ends, it may begin at any moment: the check refuses work beside
    it again, and the claim keeps a refresh scheduled beside it (during the blackout) waiting."""
    world = await make_world()
    update = await world.request_version()
    refresh = await world.request_refresh(E.SANDBOX)
    await world.schedule(update.id, IN_WINDOW)
    assert await dispatch(update.id, now=IN_WINDOW)
    await create_blackout(
        world.staff_actor,
        start=IN_WINDOW + 5 * MINUTE,
        end=IN_WINDOW + 50 * MINUTE,
        reason="Switch replacement",
        now=IN_WINDOW + MINUTE,
    )
    after_it = IN_WINDOW + 50 * MINUTE
    await schedule_update_request(world.staff_actor, refresh.id, after_it, now=IN_WINDOW + 10 * MINUTE)
    later = after_it + MINUTE
    verdict = await schedule_check(world.staff_actor, refresh.id, later, now=later)
    assert [(f.code.value, f.conflicting_request_id) for f in verdict.findings] == [
        ("ENVIRONMENT_BUSY", update.id)
    ]
    assert not await dispatch(refresh.id, now=later)  # one job per site: it waits
    assert await begin(update.id, now=later) is not None
    assert await status_of(refresh.id) is S.SCHEDULED


async def test_a_due_request_its_window_has_no_room_left_for_refuses_no_other_work(db):
    """The production update was due at 01:00; the dispatcher reaches nothing until 02:45, when
    45 minutes of the window are left: it will be moved to next Thursday, yet it held 02:45-03:45,
    so a sandbox refresh for 02:50 was refused ENVIRONMENT_BUSY."""
    world = await make_world()
    update = await world.request_version()
    refresh = await world.request_refresh(E.SANDBOX)
    await world.schedule(update.id, IN_WINDOW)
    late = CLOSES - 45 * MINUTE
    proposed = late + 5 * MINUTE
    verdict = await schedule_check(world.staff_actor, refresh.id, proposed, now=late)
    assert (verdict.findings, verdict.next_possible_start) == ([], proposed)
    await schedule_update_request(world.staff_actor, refresh.id, proposed, now=late)
    assert await schedule_conflicts(world.staff_actor, now=late) == []
    assert await dispatch_due(now=late) == []
    assert (await UpdateRequest.get(id=update.id)).scheduled_start == NEXT_OPENING
    assert await dispatch_due(now=proposed) == [refresh.id]


async def test_a_due_request_whose_site_already_runs_its_target_refuses_no_other_work(db):
    """The production update to 2435.4 is due at 01:00 and waits for production, which a sandbox
    refresh running since 00:00 holds; meanwhile an import records production on 2439.1. Picked
    up, it completes without running, yet it held an hour from now: a staging refresh (it copies
    production) proposed for 01:30, clear of the overrunning refresh, was refused ENVIRONMENT_BUSY."""
    world = await make_world()
    running = await world.request_refresh(E.SANDBOX)
    waiting = await world.request_version()
    await world.schedule(running.id, IN_WINDOW - HOUR)
    await world.schedule(waiting.id, IN_WINDOW)
    assert await dispatch(running.id, now=IN_WINDOW - HOUR)
    assert await begin(running.id, now=IN_WINDOW - HOUR + MINUTE) is not None
    assert not await dispatch(waiting.id, now=IN_WINDOW)
    await Environment.filter(district_id=world.district.id, kind=E.PRODUCTION).update(
        current_version="Campus.2439.1"
    )
    now = IN_WINDOW + 10 * MINUTE
    staging_refresh = await world.request_refresh(E.STAGING)
    proposed = IN_WINDOW + 30 * MINUTE  # the running refresh is taken to need until 01:25
    verdict = await schedule_check(world.staff_actor, staging_refresh.id, proposed, now=now)
    assert (verdict.findings, verdict.next_possible_start) == ([], proposed)
    # It never runs: once production is free it completes without running.
    await complete(running.id, now=now + MINUTE)
    assert await dispatch(waiting.id, now=now + 2 * MINUTE)
    assert await begin(waiting.id, now=now + 2 * MINUTE) is None
    assert await status_of(waiting.id) is S.COMPLETED
