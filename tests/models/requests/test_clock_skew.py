"""Clocks of the scheduler and the workers are never exactly alike. A worker whose clock runs a
little behind the dispatcher's begins the work that dispatcher found startable: it does not judge
the start again at an instant before the dispatch (outside the window that just opened, inside the
blackout that just ended) and re-slot it with a new invitation for the same slot. A worker truly
late (a backlog) is still judged by its own clock.
Injected clocks; against a real database, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from models.blackouts import BlackoutScope, create_blackout
from models.enums import EnvironmentKind, NotificationKind, UpdateStatus
from models.requests.completion import complete
from models.requests.dispatch import dispatch
from models.requests.execution import begin
from models.tables import Notification, StatusChange, UpdateRequest
from tests.models.scenario import T0, make_world

S = UpdateStatus
#: Thursday 2026-11-05 00:30 CST, when the seeded window opens.
OPENS = datetime(2026, 11, 5, 6, 30, tzinfo=UTC)
#: How far the worker's clock is behind the scheduler's.
SKEW = timedelta(seconds=2)


async def scheduled_mails(request_id: int) -> int:
    return await Notification.filter(update_request_id=request_id, kind=NotificationKind.SCHEDULED).count()


async def test_a_worker_clock_behind_the_dispatcher_begins_work_at_the_window_opening(db):
    world = await make_world()
    request = await world.request_version()
    await world.schedule(request.id, OPENS)
    mails = await scheduled_mails(request.id)
    assert await dispatch(request.id, now=OPENS)
    # The job is picked up at once, by a worker whose clock still says 00:29:58.
    assert await begin(request.id, now=OPENS + timedelta(milliseconds=300) - SKEW) is not None
    begun = await UpdateRequest.get(id=request.id)
    assert begun.status is S.IN_PROGRESS
    assert await scheduled_mails(request.id) == mails  # no invitation for the slot it is running in
    # The history never goes backwards: the start is not recorded before the dispatch.
    changes = await StatusChange.filter(update_request_id=request.id).order_by("id")
    assert [c.at for c in changes] == sorted(c.at for c in changes)
    assert begun.started_at is not None and begun.started_at >= OPENS


async def test_a_worker_clock_behind_the_dispatcher_begins_work_as_a_blackout_ends(db):
    world = await make_world()
    refresh = await world.request_refresh(EnvironmentKind.SANDBOX)
    ends = OPENS + timedelta(hours=5)  # refreshes are not bound to windows
    await create_blackout(
        world.staff_actor,
        start=OPENS,
        end=ends,
        reason="State testing",
        scope=BlackoutScope(district_id=world.district.id),
        now=T0,
    )
    await world.schedule(refresh.id, ends)
    assert await dispatch(refresh.id, now=ends)
    assert await begin(refresh.id, now=ends - SKEW) is not None
    assert (await UpdateRequest.get(id=refresh.id)).status is S.IN_PROGRESS


async def test_a_worker_truly_late_is_judged_by_its_own_clock(db):
    """The other side of the rule: only an instant before the dispatch is taken as skew."""
    world = await make_world()
    request = await world.request_version()
    await world.schedule(request.id, OPENS + timedelta(hours=2))  # the last start that fits
    assert await dispatch(request.id, now=OPENS + timedelta(hours=2))
    assert await begin(request.id, now=OPENS + timedelta(hours=2) + SKEW) is None
    moved = await UpdateRequest.get(id=request.id)
    assert (moved.status, moved.scheduled_start) == (S.SCHEDULED, OPENS + timedelta(days=7))


async def test_work_finished_at_once_by_a_worker_clock_behind_never_ends_before_it_began(db):
    world = await make_world()
    request = await world.request_version()
    await world.schedule(request.id, OPENS)
    assert await dispatch(request.id, now=OPENS)
    worker_now = OPENS + timedelta(milliseconds=300) - SKEW
    assert await begin(request.id, now=worker_now) is not None
    await complete(request.id, now=worker_now + timedelta(milliseconds=500))
    done = await UpdateRequest.get(id=request.id)
    assert done.status is S.COMPLETED
    assert done.started_at is not None and done.completed_at is not None
    assert done.completed_at >= done.started_at
    changes = await StatusChange.filter(update_request_id=request.id).order_by("id")
    assert [c.at for c in changes] == sorted(c.at for c in changes)
