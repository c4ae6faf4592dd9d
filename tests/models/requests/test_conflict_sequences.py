"""Sequences of staff, blackouts and the dispatcher on one site: work due together inside a
blackout is moved past it one piece after another, never onto one slot; the moves are what
`scheduleConflicts` then finds nothing wrong with. Injected clocks; both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from models.blackouts import BlackoutScope, create_blackout
from models.enums import EnvironmentKind, UpdateStatus
from models.requests.dispatch import dispatch_due
from models.requests.preflight import schedule_conflicts
from models.tables import UpdateRequest
from tests.models.scenario import T0, make_world

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
