"""Blackouts hold at scheduling and at the start (issue 13, phase 2): staff scheduling refuses
BLACKOUT even with a window override; a due request inside a blackout is not started by the
dispatcher nor by the worker's begin, but moved (a system move, the reason in its history, an
updated invitation) to the first start after it; each blackout scope blocks only what it covers.
Injected clocks; against a real database, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar

from models.blackouts import BlackoutScope, create_blackout
from models.enums import EnvironmentKind, ErrorCode, HostingModel, NotificationKind, UpdateKind, UpdateStatus
from models.errors import each_error
from models.requests.dispatch import dispatch, dispatch_due
from models.requests.execution import begin
from models.tables import Blackout, Environment, Notification, StatusChange, UpdateRequest
from tests.factories import make_group, make_request
from tests.models.scenario import IN_WINDOW, RUN_AT, T0, World, make_world, refused, status_of

S = UpdateStatus
E = EnvironmentKind
#: Thursday 2026-11-05 (CST): the whole day blacked out, 00:00 to 24:00 local time.
THURSDAY_STARTS = datetime(2026, 11, 5, 6, 0, tzinfo=UTC)
THURSDAY_ENDS = datetime(2026, 11, 6, 6, 0, tzinfo=UTC)
#: The window of the next Thursday, 2026-11-12 00:30 CST.
NEXT_OPENING = datetime(2026, 11, 12, 6, 30, tzinfo=UTC)
#: Thursday 2026-11-05 09:00 CST: outside the window.
THURSDAY_MORNING = datetime(2026, 11, 5, 15, 0, tzinfo=UTC)
REASON = "State testing week"


async def black_out_thursday(world: World, scope: BlackoutScope | None = None) -> Blackout:
    return await create_blackout(
        world.staff_actor,
        start=THURSDAY_STARTS,
        end=THURSDAY_ENDS,
        reason=REASON,
        scope=scope or BlackoutScope(district_id=world.district.id),
        now=T0,
    )


async def last_change(request_id: int) -> StatusChange:
    row = await StatusChange.filter(update_request_id=request_id).order_by("-id").first()
    assert row is not None
    return row


async def invitations(request_id: int) -> list[tuple[str, int, datetime]]:
    """(UID, SEQUENCE, DTSTART) of each invitation mailed for the request, in order (one recipient)."""
    mails = await Notification.filter(update_request_id=request_id, kind=NotificationKind.SCHEDULED).order_by(
        "id"
    )
    assert len({m.recipient for m in mails}) == 1
    found = []
    for mail in mails:
        assert mail.calendar is not None
        event = next(iter(Calendar.from_ical(mail.calendar).walk("VEVENT")))
        found.append((str(event["uid"]), event.decoded("sequence"), event.decoded("dtstart")))
    return found


# --------------------------------------------------------------------- at scheduling


async def test_scheduling_refuses_a_blackout_even_with_the_window_override(db):
    world = await make_world()
    request = await world.request_version()
    await black_out_thursday(world)
    error = await refused(world.schedule(request.id, IN_WINDOW))
    assert (error.code, error.field) == (ErrorCode.BLACKOUT, "start")
    assert REASON in error.message and "Thursday, November 12, 2026 at 12:30 AM CST" in error.message
    overridden = await refused(world.schedule(request.id, THURSDAY_MORNING, override=True))
    assert [e.code for e in each_error(overridden)] == [ErrorCode.BLACKOUT]
    # Without the override, every conflict at once: the blackout first, then the window.
    both = await refused(world.schedule(request.id, THURSDAY_MORNING))
    assert [e.code for e in each_error(both)] == [ErrorCode.BLACKOUT, ErrorCode.OUTSIDE_MAINTENANCE_WINDOW]
    assert await status_of(request.id) is S.TO_BE_SCHEDULED
    assert (await world.schedule(request.id, NEXT_OPENING)).scheduled_start == NEXT_OPENING


async def test_scheduling_refuses_a_slot_another_request_holds_on_the_site(db):
    world = await make_world()
    update = await world.request_version()
    refresh = await world.request_refresh(E.SANDBOX)
    staging = await world.request_version(environment=E.STAGING)
    await world.schedule(update.id, IN_WINDOW)
    error = await refused(world.schedule(refresh.id, IN_WINDOW + timedelta(minutes=30)))
    assert error.code is ErrorCode.ENVIRONMENT_BUSY  # the refresh copies production
    assert "the update of the production site to Campus.2435.4 is scheduled for" in error.message
    assert "The next possible start is Thursday, November 05, 2026 at 02:00 AM CST." in error.message
    assert (await world.schedule(refresh.id, IN_WINDOW + timedelta(hours=1))).status is S.SCHEDULED
    assert (await world.schedule(staging.id, IN_WINDOW)).status is S.SCHEDULED  # another site
    # Rescheduling a request over its own slot is no conflict.
    assert (await world.schedule(update.id, IN_WINDOW - timedelta(minutes=30))).status is S.SCHEDULED


# --------------------------------------------------------------------- at the start


async def test_the_dispatcher_moves_a_due_request_out_of_a_blackout_with_a_new_invitation(db):
    world = await make_world()
    request = await world.request_version()
    await world.schedule(request.id, IN_WINDOW)
    await black_out_thursday(world)
    # Creating the blackout moved nothing.
    assert (await UpdateRequest.get(id=request.id)).scheduled_start == IN_WINDOW
    assert not await dispatch(request.id, now=IN_WINDOW)
    moved = await UpdateRequest.get(id=request.id)
    assert (moved.status, moved.scheduled_start, moved.lease_expires_at) == (S.SCHEDULED, NEXT_OPENING, None)
    change = await last_change(request.id)
    assert (change.from_status, change.to_status, change.actor, change.by_id) == (
        S.SCHEDULED,
        S.SCHEDULED,
        "SYSTEM",
        None,
    )
    assert change.message == (
        "It could not start during a blackout (State testing week, until Friday, November 06, 2026 at "
        "12:00 AM CST), so it moved to Thursday, November 12, 2026 at 12:30 AM CST."
    )
    (first_uid, first_seq, first_start), (uid, sequence, start) = await invitations(request.id)
    assert (uid, start) == (first_uid, NEXT_OPENING) and sequence > first_seq
    assert first_start == IN_WINDOW
    assert await dispatch(request.id, now=NEXT_OPENING)


async def test_begin_moves_a_dispatched_request_when_a_blackout_came_after_dispatch(db):
    world = await make_world()
    request = await world.request_version()
    await world.schedule(request.id, IN_WINDOW)
    assert await dispatch(request.id, now=IN_WINDOW)
    await black_out_thursday(world)
    assert await begin(request.id, now=RUN_AT) is None
    moved = await UpdateRequest.get(id=request.id)
    assert (moved.status, moved.scheduled_start, moved.started_at) == (S.SCHEDULED, NEXT_OPENING, None)
    assert (await last_change(request.id)).actor == "SYSTEM"
    production = await Environment.get(id=moved.environment_id)
    assert (production.running_request_id, production.online) == (None, True)
    (uid_before, seq_before, _), (uid_after, seq_after, start) = await invitations(request.id)
    assert (uid_after, start) == (uid_before, NEXT_OPENING) and seq_after > seq_before


@pytest.mark.parametrize("hosting_model", [HostingModel.CAMPUS_CLOUD, HostingModel.ASP_HOSTED])
async def test_work_not_bound_to_windows_moves_to_the_end_of_the_blackout(db, hosting_model):
    world = await make_world(hosting_model=hosting_model)
    refresh = await world.request_refresh(E.SANDBOX)
    await world.schedule(refresh.id, THURSDAY_MORNING)
    if hosting_model is HostingModel.ASP_HOSTED:
        update = await world.request_version(environment=E.STAGING)
        await world.schedule(update.id, THURSDAY_MORNING)
    await black_out_thursday(world)
    assert await dispatch_due(now=THURSDAY_MORNING) == []
    moved = await UpdateRequest.filter(district_id=world.district.id, status=S.SCHEDULED)
    assert moved and {r.scheduled_start for r in moved} == {THURSDAY_ENDS}
    assert sorted(await dispatch_due(now=THURSDAY_ENDS)) == sorted(r.id for r in moved)


async def test_a_window_override_is_kept_and_the_blackout_still_holds(db):
    world = await make_world()
    request = await world.request_version()
    await world.schedule(request.id, THURSDAY_MORNING, override=True)
    await black_out_thursday(world)
    assert not await dispatch(request.id, now=THURSDAY_MORNING)
    moved = await UpdateRequest.get(id=request.id)
    # Not to a window: the override holds, so the first start after the blackout.
    assert (moved.scheduled_start, moved.window_override) == (THURSDAY_ENDS, True)
    assert await dispatch(request.id, now=THURSDAY_ENDS)


async def test_a_blackout_ahead_that_the_work_would_run_into_moves_it_too(db):
    world = await make_world(hosting_model=HostingModel.ASP_HOSTED)
    refresh = await world.request_refresh(E.SANDBOX)
    half_hour_before = THURSDAY_STARTS - timedelta(minutes=30)
    await world.schedule(refresh.id, half_hour_before)
    await black_out_thursday(world)
    assert not await dispatch(refresh.id, now=half_hour_before)
    assert (await UpdateRequest.get(id=refresh.id)).scheduled_start == THURSDAY_ENDS
    # An hour before, the expected hour ends as the blackout begins: it starts.
    other = await world.request_refresh(E.STAGING)
    await world.schedule(other.id, THURSDAY_STARTS - timedelta(hours=1))
    assert await dispatch(other.id, now=THURSDAY_STARTS - timedelta(hours=1))


# --------------------------------------------------------------------- scopes


@pytest.mark.parametrize("scope", ["everything", "hosting model", "group", "district"])
async def test_each_blackout_scope_blocks_only_what_it_covers(db, scope):
    group = await make_group()
    worlds = {
        "cloud in group": await make_world(group=group),
        "cloud": await make_world(),
        "asp in group": await make_world(hosting_model=HostingModel.ASP_HOSTED, group=group),
        "asp": await make_world(hosting_model=HostingModel.ASP_HOSTED),
    }
    covered = {
        "everything": set(worlds),
        "hosting model": {"cloud in group", "cloud"},
        "group": {"cloud in group", "asp in group"},
        "district": {"asp"},
    }[scope]
    requests = {}
    for name, world in worlds.items():
        request = await world.request_refresh(E.SANDBOX)  # grouped districts: refreshes only
        await world.schedule(request.id, IN_WINDOW)
        requests[name] = request.id
    staff = worlds["cloud"]
    await black_out_thursday(
        staff,
        {
            "everything": BlackoutScope(),
            "hosting model": BlackoutScope(hosting_model=HostingModel.CAMPUS_CLOUD),
            "group": BlackoutScope(update_group_id=group.id),
            "district": BlackoutScope(district_id=worlds["asp"].district.id),
        }[scope],
    )
    dispatched = set(await dispatch_due(now=IN_WINDOW))
    assert dispatched == {requests[name] for name in worlds if name not in covered}
    for name in covered:
        moved = await UpdateRequest.get(id=requests[name])
        assert (moved.status, moved.scheduled_start) == (S.SCHEDULED, THURSDAY_ENDS)
    # Scheduling honours the same scopes.
    for name, world in worlds.items():
        refresh = await world.request_refresh(E.STAGING)
        if name in covered:
            assert (await refused(world.schedule(refresh.id, IN_WINDOW))).code is ErrorCode.BLACKOUT
        else:
            await world.schedule(refresh.id, IN_WINDOW + timedelta(hours=1))


async def test_a_request_made_directly_due_in_a_blackout_is_not_begun_either(db):
    """A request that reached NOT_STARTED before blackouts existed is checked again at begin."""
    world = await make_world(hosting_model=HostingModel.ASP_HOSTED)
    await black_out_thursday(world, BlackoutScope())
    legacy = await make_request(
        world.district,
        kind=UpdateKind.DATABASE_REFRESH,
        environment=E.SANDBOX,
        status=S.NOT_STARTED,
        scheduled_start=THURSDAY_MORNING,
    )
    assert await begin(legacy.id, now=THURSDAY_MORNING) is None
    assert (await UpdateRequest.get(id=legacy.id)).scheduled_start == THURSDAY_ENDS
