"""Sequences of staff, blackouts and the dispatcher on one site: work due together inside a
blackout is moved past it one piece after another, never onto one slot; the moves are what
`scheduleConflicts` then finds nothing wrong with. Injected clocks; both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from models.blackouts import BlackoutScope, create_blackout, delete_blackout
from models.enums import EnvironmentKind, ErrorCode, UpdateStatus
from models.requests.dispatch import dispatch_due
from models.requests.preflight import schedule_conflicts
from models.tables import Blackout, UpdateRequest
from tests.models.scenario import T0, World, make_world, status_of

S = UpdateStatus
E = EnvironmentKind
HOUR = timedelta(hours=1)
#: Thursday 2026-11-05 00:30 CST, when the seeded window (00:30-03:30) opens.
OPENS = datetime(2026, 11, 5, 6, 30, tzinfo=UTC)


async def test_work_due_together_in_a_blackout_is_moved_past_it_one_after_the_other(db):
    """A production update at 00:30 and a sandbox refresh (which copies production) at 01:30 CST;
    a blackout from 00:25 to 01:45 is added over both. At 01:30 one pass finds both due inside
    it: each is moved past the blackout, clear of the other, and neither starts."""
    world = await make_world()
    update = await world.request_version()
    refresh = await world.request_refresh(E.SANDBOX)
    await world.schedule(update.id, OPENS)
    await world.schedule(refresh.id, OPENS + HOUR)
    ends = OPENS + timedelta(minutes=75)
    await create_blackout(
        world.staff_actor,
        start=OPENS - timedelta(minutes=5),
        end=ends,
        reason="Network maintenance",
        scope=BlackoutScope(district_id=world.district.id),
        now=T0,
    )
    now = OPENS + HOUR
    assert await dispatch_due(now=now) == []
    moved = {r.id: r for r in await UpdateRequest.filter(id__in=[update.id, refresh.id])}
    assert {r.status for r in moved.values()} == {S.SCHEDULED}
    starts = sorted(r.scheduled_start for r in moved.values() if r.scheduled_start is not None)
    assert len(starts) == 2 and starts[0] >= ends and starts[1] - starts[0] >= HOUR, starts
    assert await schedule_conflicts(world.staff_actor, now=now) == []


#: A blackout from 00:25 to 02:15 CST, added after both pieces of work were scheduled.
BLACKOUT_ENDS = OPENS + timedelta(minutes=105)


async def update_and_refresh_in_a_blackout(world: World) -> tuple[UpdateRequest, UpdateRequest, Blackout]:
    """A production update at 00:30 CST and a sandbox refresh (which copies production) at 02:00;
    then a blackout from 00:25 to 02:15 is added over both slots."""
    update = await world.request_version()
    refresh = await world.request_refresh(E.SANDBOX)
    await world.schedule(update.id, OPENS)
    await world.schedule(refresh.id, OPENS + timedelta(minutes=90))
    blackout = await create_blackout(
        world.staff_actor,
        start=OPENS - timedelta(minutes=5),
        end=BLACKOUT_ENDS,
        reason="Network maintenance",
        scope=BlackoutScope(district_id=world.district.id),
        now=T0,
    )
    return update, refresh, blackout


async def starts(*requests: UpdateRequest) -> list[datetime | None]:
    return [(await UpdateRequest.get(id=r.id)).scheduled_start for r in requests]


@pytest.mark.parametrize("passes", ["on time", "one late pass"])
async def test_a_slot_a_blackout_covers_holds_nothing_for_the_site_s_other_work(db, passes):
    """Neither piece of work can run in its slot. The window-bound update is moved first (it is
    due first) and belongs in the first window slot after the blackout that fits: 02:15, which
    leaves the expected hour before the window closes at 03:30. The refresh's slot (02:00-03:00)
    must not push it a whole week: the refresh cannot run then either and is moved itself when it
    falls due, behind the update (03:15, it is not bound to windows), never onto the update's slot.
    With passes on time the update is moved at 00:30, before the refresh falls due; with one late
    pass at 02:00 both are due in it."""
    world = await make_world()
    update, refresh, _ = await update_and_refresh_in_a_blackout(world)
    if passes == "on time":
        assert await dispatch_due(now=OPENS) == []
        assert await starts(update, refresh) == [BLACKOUT_ENDS, OPENS + timedelta(minutes=90)]
    assert await dispatch_due(now=OPENS + timedelta(minutes=90)) == []
    assert await starts(update, refresh) == [BLACKOUT_ENDS, BLACKOUT_ENDS + HOUR]
    assert await schedule_conflicts(world.staff_actor, now=OPENS + timedelta(minutes=90)) == []
    assert await dispatch_due(now=BLACKOUT_ENDS) == [update.id]


async def test_a_blackout_deleted_after_the_move_leaves_no_silent_overlap(db):
    """The update was moved onto the part of the refresh's slot that the blackout made void; staff
    then delete the blackout before the refresh falls due. Its slot holds again: the overlap is
    listed by `scheduleConflicts` (changes of blackouts never move work silently), and at run time
    the one job per site still holds: the update waits for the refresh."""
    world = await make_world()
    update, refresh, blackout = await update_and_refresh_in_a_blackout(world)
    assert await dispatch_due(now=OPENS) == []
    assert await starts(update) == [BLACKOUT_ENDS]
    await delete_blackout(world.staff_actor, blackout.id)
    conflicts = await schedule_conflicts(world.staff_actor, now=OPENS)
    assert {(f.update_request_id, f.code, f.conflicting_request_id) for f in conflicts} == {
        (update.id, ErrorCode.ENVIRONMENT_BUSY, refresh.id),
        (refresh.id, ErrorCode.ENVIRONMENT_BUSY, update.id),
    }
    assert await dispatch_due(now=OPENS + timedelta(minutes=90)) == [refresh.id]
    assert await dispatch_due(now=BLACKOUT_ENDS) == []
    assert await status_of(update.id) is S.SCHEDULED
