"""Windows hold at the start, not only when scheduling (issue 12, item 2): staff scheduling refuses
a start without time to finish in the window; the dispatcher and the worker's begin re-slot work
that can no longer start in time (a system move with the reason and a new invitation); overrides
are kept; the automatic sandbox update goes into the first slot that fits.
Injected clocks; against a real database, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from icalendar import Calendar

from models.enums import EnvironmentKind, ErrorCode, HostingModel, NotificationKind, UpdateStatus
from models.requests.completion import complete
from models.requests.dispatch import dispatch
from models.requests.execution import begin
from models.requests.staff import schedule_update_request
from models.running import RunPolicy
from models.tables import Environment, Notification, StatusChange, UpdateRequest
from tests.models.scenario import AFTER_RUN, IN_WINDOW, T0, World, make_world, refused, status_of

S = UpdateStatus
#: Thursday 2026-11-05 00:30 CST, when the seeded window opens (06:30 UTC), and next week's opening.
OPENS = datetime(2026, 11, 5, 6, 30, tzinfo=UTC)
NEXT_OPENING = OPENS + timedelta(days=7)
#: Thursday 03:00 CST: inside the window with 30 of the expected 60 minutes left.
TOO_LATE = OPENS + timedelta(hours=2, minutes=30)
#: Thursday 09:00 CST: the late scheduler of issue 12.
THURSDAY_MORNING = datetime(2026, 11, 5, 15, 0, tzinfo=UTC)


async def last_change(request_id: int) -> StatusChange:
    row = await StatusChange.filter(update_request_id=request_id).order_by("-id").first()
    assert row is not None
    return row


async def test_scheduling_refuses_a_start_without_time_to_finish(db):
    world = await make_world()
    request = await world.request_version()
    error = await refused(world.schedule(request.id, TOO_LATE))
    assert (error.code, error.field) == (ErrorCode.WINDOW_TOO_SHORT, "start")
    assert "The next possible start is Thursday, November 12, 2026 at 12:30 AM CST." in error.message
    assert await status_of(request.id) is S.TO_BE_SCHEDULED
    latest_fit = OPENS + timedelta(hours=2)  # 02:30 CST: exactly the expected hour left
    assert (await world.schedule(request.id, latest_fit)).scheduled_start == latest_fit


async def test_the_expected_duration_comes_from_the_caller(db):
    world = await make_world()
    request = await world.request_version()
    three_hours = RunPolicy(expected_duration=timedelta(hours=3))
    error = await refused(
        schedule_update_request(world.staff_actor, request.id, IN_WINDOW, now=T0, policy=three_hours)
    )
    assert error.code is ErrorCode.WINDOW_TOO_SHORT
    await schedule_update_request(world.staff_actor, request.id, OPENS, now=T0, policy=three_hours)


async def test_staff_may_override_a_short_window_and_the_override_is_recorded(db):
    world = await make_world()
    request = await world.request_version()
    scheduled = await world.schedule(request.id, TOO_LATE, override=True)
    assert scheduled.window_override
    assert (await last_change(request.id)).window_override


async def test_a_late_scheduler_re_slots_instead_of_starting_outside_the_window(db):
    """Issue 12: a late scheduler dispatched a Campus Cloud version update at Thursday 09:00."""
    world = await make_world()
    request = await world.request_version()
    await world.schedule(request.id, IN_WINDOW)
    assert not await dispatch(request.id, now=THURSDAY_MORNING)
    moved = await UpdateRequest.get(id=request.id)
    assert (moved.status, moved.scheduled_start, moved.lease_expires_at) == (S.SCHEDULED, NEXT_OPENING, None)
    change = await last_change(request.id)
    assert (change.from_status, change.to_status, change.actor, change.by_id) == (
        S.SCHEDULED,
        S.SCHEDULED,
        "SYSTEM",
        None,
    )
    assert change.message is not None and "Thursday, November 12, 2026 at 12:30 AM CST" in change.message
    assert moved.status_message == change.message
    # A new invitation: the same event, a higher sequence, at the new time.
    mails = await Notification.filter(update_request_id=request.id, kind=NotificationKind.SCHEDULED).order_by(
        "id"
    )
    assert len({m.recipient for m in mails}) == 1 and len(mails) == 2
    assert mails[-1].calendar is not None
    event = next(iter(Calendar.from_ical(mails[-1].calendar).walk("VEVENT")))
    assert (event.decoded("sequence"), event.decoded("dtstart")) == (1, NEXT_OPENING)
    # Next week it starts.
    assert await dispatch(request.id, now=NEXT_OPENING)


async def test_a_worker_that_picks_up_too_late_re_slots_and_frees_the_site(db):
    world = await make_world()
    request = await world.request_version()
    await world.schedule(request.id, IN_WINDOW)
    assert await dispatch(request.id, now=IN_WINDOW)
    assert await begin(request.id, now=TOO_LATE) is None  # the job waited behind a backlog
    moved = await UpdateRequest.get(id=request.id)
    assert (moved.status, moved.scheduled_start, moved.started_at) == (S.SCHEDULED, NEXT_OPENING, None)
    assert (await last_change(request.id)).actor == "SYSTEM"
    production = await Environment.get(id=moved.environment_id)
    assert (production.running_request_id, production.online) == (None, True)


async def test_a_request_waiting_for_a_busy_site_is_re_slotted_when_its_window_runs_out(db):
    world = await make_world()
    refresh = await world.request_refresh(EnvironmentKind.STAGING)
    update = await world.request_version(environment=EnvironmentKind.STAGING)
    await world.drive(refresh.id, S.IN_PROGRESS)
    await world.schedule(update.id, AFTER_RUN)  # after the refresh's expected hour; it overruns
    assert not await dispatch(update.id, now=AFTER_RUN + timedelta(minutes=5))
    assert (await UpdateRequest.get(id=update.id)).scheduled_start == AFTER_RUN  # waits, still fits
    assert not await dispatch(update.id, now=TOO_LATE)
    assert (await UpdateRequest.get(id=update.id)).scheduled_start == NEXT_OPENING


async def test_a_staff_override_holds_through_dispatch_and_begin(db):
    world = await make_world()
    request = await world.request_version()
    await world.schedule(request.id, THURSDAY_MORNING, override=True)
    assert await dispatch(request.id, now=THURSDAY_MORNING)
    assert await begin(request.id, now=THURSDAY_MORNING + timedelta(minutes=1)) is not None


async def test_work_not_bound_to_windows_starts_at_any_hour(db):
    world = await make_world(hosting_model=HostingModel.ASP_HOSTED)
    request = await world.request_version()
    await world.schedule(request.id, THURSDAY_MORNING)
    assert await dispatch(request.id, now=THURSDAY_MORNING)
    refresh = await (await make_world()).request_refresh()
    await world.schedule(refresh.id, THURSDAY_MORNING)
    assert await dispatch(refresh.id, now=THURSDAY_MORNING)


async def _sandbox_update(world: World) -> UpdateRequest:
    return await UpdateRequest.get(district_id=world.district.id, automatic=True)


async def test_the_automatic_sandbox_update_starts_now_when_the_window_has_room(db):
    world = await make_world()
    request = await world.request_version()
    await world.drive(request.id, S.IN_PROGRESS)
    finished = OPENS + timedelta(hours=1)
    await complete(request.id, now=finished)
    sandbox = await _sandbox_update(world)
    assert (sandbox.status, sandbox.scheduled_start) == (S.SCHEDULED, finished)


async def test_the_automatic_sandbox_update_goes_to_the_first_slot_that_fits(db):
    """Issue 12: the automatic sandbox update was scheduled for "now" whatever the window."""
    world = await make_world()
    request = await world.request_version()
    await world.drive(request.id, S.IN_PROGRESS)
    await complete(request.id, now=TOO_LATE)
    sandbox = await _sandbox_update(world)
    assert (sandbox.status, sandbox.scheduled_start) == (S.SCHEDULED, NEXT_OPENING)
    assert sandbox.status_message is not None and "first time it fits" in sandbox.status_message
    assert not await dispatch(sandbox.id, now=TOO_LATE)
    assert await dispatch(sandbox.id, now=NEXT_OPENING)


async def test_an_automatic_sandbox_update_no_window_fits_says_why_it_waits_for_staff(db):
    """No window is long enough for the expected duration: the sandbox update waits for staff to
    schedule it, and its district reads why instead of a bare "to be scheduled"."""
    world = await make_world()
    request = await world.request_version()
    await world.drive(request.id, S.IN_PROGRESS)
    await complete(
        request.id, now=OPENS + timedelta(hours=1), policy=RunPolicy(expected_duration=timedelta(hours=4))
    )
    sandbox = await _sandbox_update(world)
    assert (sandbox.status, sandbox.scheduled_start) == (S.TO_BE_SCHEDULED, None)
    assert sandbox.status_message is not None
    assert "No maintenance window is long enough" in sandbox.status_message
    assert "Campus.2435.4" in sandbox.status_message
