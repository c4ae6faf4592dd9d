"""Probes of the pre-flight at its edges (`scheduleCheck`, staff scheduling, `scheduleConflicts`):
a start given a few minutes in the past, blackouts starting or ending exactly at a window's ends,
slots that touch, windows deleted or shortened after work was scheduled, a blackout for one update
group beside one for a district, and a Sunday window on the night the clocks fall back. Injected
clocks; against a real database, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from icalendar import Calendar

from models.blackouts import BlackoutScope, create_blackout
from models.enums import EnvironmentKind, ErrorCode, HostingModel, NotificationKind, UpdateStatus
from models.errors import DomainErrors
from models.maintenance import all_rules, check_rule, create_rule, delete_rule, update_rule
from models.requests.completion import complete
from models.requests.dispatch import dispatch
from models.requests.execution import begin
from models.requests.preflight import SCHEDULE_PAST_TOLERANCE, schedule_check, schedule_conflicts
from models.requests.staff import schedule_update_request
from models.tables import District, Notification, UpdateRequest
from tests.factories import make_group
from tests.models.scenario import IN_WINDOW, OUTSIDE_WINDOW, T0, World, make_world, refused

E = EnvironmentKind
C = ErrorCode
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
#: Thursday 2026-11-05 in CST: the seeded window is 00:30-03:30 (06:30-09:30 UTC).
OPENS = datetime(2026, 11, 5, 6, 30, tzinfo=UTC)
CLOSES = OPENS + timedelta(hours=3)
NEXT_OPENING = OPENS + timedelta(days=7)
#: The last start that leaves the expected hour: 02:30 CST.
LAST_FIT = CLOSES - HOUR


def codes(findings) -> list[ErrorCode]:
    return [f.code for f in findings]


async def black_out(world: World, start: datetime, end: datetime, update_group_id: int | None = None) -> int:
    """A blackout over `world`'s district, or over an update group when one is given."""
    scope = (
        BlackoutScope(update_group_id=update_group_id)
        if update_group_id is not None
        else BlackoutScope(district_id=world.district.id)
    )
    made = await create_blackout(
        world.staff_actor, start=start, end=end, reason="Switch replacement", scope=scope, now=T0
    )
    return made.id


# --------------------------------------------------------------------- a start just in the past


async def test_a_start_a_few_minutes_ago_is_judged_from_now(db):
    """Staff type "02:29" and submit at 02:32: inside the tolerance, so not a past start; but the
    work cannot begin before 02:32, and from then the window has 58 minutes left. The check must
    say WINDOW_TOO_SHORT (its next start is next week), not "no conflict" beside a next possible
    start a week away; scheduling must refuse it rather than accept a start the dispatcher would
    re-slot at once."""
    world = await make_world()
    request = await world.request_version()
    start = LAST_FIT - MINUTE
    now = start + timedelta(minutes=3)
    assert now - start < SCHEDULE_PAST_TOLERANCE
    verdict = await schedule_check(world.staff_actor, request.id, start, now=now)
    assert verdict.next_possible_start == NEXT_OPENING
    assert codes(verdict.findings) == [C.WINDOW_TOO_SHORT]
    caught = await refused(schedule_update_request(world.staff_actor, request.id, start, now=now))
    assert isinstance(caught, DomainErrors) and caught.code is C.WINDOW_TOO_SHORT
    assert (await UpdateRequest.get(id=request.id)).status is UpdateStatus.TO_BE_SCHEDULED
    # With the override the start is taken, the override recorded, and it holds at dispatch.
    await schedule_update_request(
        world.staff_actor, request.id, start, override_maintenance_window=True, now=now
    )
    assert (await UpdateRequest.get(id=request.id)).window_override
    assert await dispatch(request.id, now=now + MINUTE)


async def test_a_start_a_few_minutes_ago_that_still_fits_from_now_is_taken(db):
    world = await make_world()
    request = await world.request_version()
    start = OPENS + timedelta(minutes=10)
    now = start + timedelta(minutes=4)
    verdict = await schedule_check(world.staff_actor, request.id, start, now=now)
    assert (verdict.findings, verdict.next_possible_start) == ([], now)
    await schedule_update_request(world.staff_actor, request.id, start, now=now)
    assert await dispatch(request.id, now=now + MINUTE)  # due at once, and started, not re-slotted


# --------------------------------------------------------------------- blackouts at a window's ends


async def test_a_blackout_ending_as_the_window_opens_leaves_the_whole_window(db):
    world = await make_world()
    request = await world.request_version()
    blackout = await black_out(world, OPENS - timedelta(days=1), OPENS)
    verdict = await schedule_check(world.staff_actor, request.id, OPENS, now=T0)
    assert (verdict.findings, verdict.next_possible_start) == ([], OPENS)
    early = await schedule_check(world.staff_actor, request.id, OPENS - MINUTE, now=T0)
    assert codes(early.findings) == [C.BLACKOUT, C.OUTSIDE_MAINTENANCE_WINDOW]
    assert early.findings[0].blackout_id == blackout and early.next_possible_start == OPENS


async def test_a_blackout_starting_as_the_window_closes_takes_nothing_from_it(db):
    world = await make_world()
    request = await world.request_version()
    await black_out(world, CLOSES, CLOSES + timedelta(days=1))
    fits = await schedule_check(world.staff_actor, request.id, LAST_FIT, now=T0)
    assert (fits.findings, fits.next_possible_start) == ([], LAST_FIT)
    late = await schedule_check(world.staff_actor, request.id, LAST_FIT + MINUTE, now=T0)
    assert codes(late.findings) == [C.BLACKOUT, C.WINDOW_TOO_SHORT]
    assert late.next_possible_start == NEXT_OPENING


async def test_a_blackout_over_the_opening_leaves_the_rest_of_the_window_when_an_hour_remains(db):
    world = await make_world()
    request = await world.request_version()
    await black_out(world, OPENS, LAST_FIT)  # 00:30 to 02:30 CST: exactly an hour left after it
    verdict = await schedule_check(world.staff_actor, request.id, OPENS, now=T0)
    assert codes(verdict.findings) == [C.BLACKOUT] and verdict.next_possible_start == LAST_FIT
    await schedule_update_request(world.staff_actor, request.id, LAST_FIT, now=T0)
    assert await schedule_conflicts(world.staff_actor, now=T0) == []


async def test_the_dispatcher_starts_work_touching_a_blackout_only_at_its_ends(db):
    """At start time the same edges hold: a blackout ending as the window opens does not hold back
    work due then, nor does one starting as the last fitting hour ends."""
    world = await make_world()
    first = await world.request_version()
    last = await world.request_version(environment=E.STAGING)
    await world.schedule(first.id, OPENS)
    await world.schedule(last.id, LAST_FIT)
    await black_out(world, OPENS - timedelta(days=1), OPENS)
    await black_out(world, CLOSES, CLOSES + timedelta(days=1))
    assert await schedule_conflicts(world.staff_actor, now=T0) == []
    assert await dispatch(first.id, now=OPENS)
    assert await dispatch(last.id, now=LAST_FIT)


# --------------------------------------------------------------------- slots that touch


async def test_slots_on_one_site_may_touch_but_not_overlap(db):
    """The production update holds 01:00-02:00 CST; a sandbox refresh (which also holds production,
    the site it copies) may end exactly at 01:00 or begin exactly at 02:00, not a minute into it."""
    world = await make_world()
    update = await world.request_version()
    await world.schedule(update.id, IN_WINDOW)
    before = await world.request_refresh(E.SANDBOX)
    after = await world.request_refresh(E.STAGING)
    await schedule_update_request(world.staff_actor, before.id, IN_WINDOW - HOUR, now=T0)
    overlapping = await refused(
        schedule_update_request(world.staff_actor, after.id, IN_WINDOW + HOUR - MINUTE, now=T0)
    )
    assert overlapping.code is C.ENVIRONMENT_BUSY
    verdict = await schedule_check(world.staff_actor, after.id, IN_WINDOW + HOUR - MINUTE, now=T0)
    assert [f.conflicting_request_id for f in verdict.findings] == [update.id]
    # The sandbox refresh holds production too (01:00 is its end): the next start clear of both.
    assert verdict.next_possible_start == IN_WINDOW + HOUR
    await schedule_update_request(world.staff_actor, after.id, IN_WINDOW + HOUR, now=T0)
    assert await schedule_conflicts(world.staff_actor, now=T0) == []


# --------------------------------------------------------------------- windows changed afterwards


async def test_deleting_one_of_two_windows_puts_only_its_work_in_conflict(db):
    world = await make_world()
    (thursday,) = await all_rules()
    sunday = await create_rule(
        world.staff_actor, check_rule(HostingModel.CAMPUS_CLOUD, 7, "01:00", "04:00", "America/Chicago")
    )
    on_sunday_start = datetime(2026, 11, 8, 8, 0, tzinfo=UTC)  # Sunday 02:00 CST
    on_thursday = await world.request_version()
    on_sunday = await world.request_version(environment=E.STAGING)
    await world.schedule(on_thursday.id, IN_WINDOW)
    await world.schedule(on_sunday.id, on_sunday_start)
    assert await schedule_conflicts(world.staff_actor, now=T0) == []

    await delete_rule(world.staff_actor, sunday.id)
    (finding,) = await schedule_conflicts(world.staff_actor, now=T0)
    assert (finding.code, finding.update_request_id) == (C.OUTSIDE_MAINTENANCE_WINDOW, on_sunday.id)
    assert "Thursday 00:30-03:30 America/Chicago" in finding.message
    assert finding.message.endswith("The next possible start is Thursday, November 12, 2026 at 12:30 AM CST.")
    assert (await UpdateRequest.get(id=on_sunday.id)).scheduled_start == on_sunday_start  # not moved

    # Shortened to 00:30-01:30: the Thursday request at 01:00 now has half an hour.
    await update_rule(
        world.staff_actor,
        thursday.id,
        check_rule(HostingModel.CAMPUS_CLOUD, 4, "00:30", "01:30", "America/Chicago"),
    )
    found = await schedule_conflicts(world.staff_actor, now=T0)
    assert [(f.code, f.update_request_id) for f in found] == [
        (C.WINDOW_TOO_SHORT, on_thursday.id),
        (C.OUTSIDE_MAINTENANCE_WINDOW, on_sunday.id),
    ]


async def test_deleting_the_last_window_leaves_campus_cloud_updates_no_start_not_any_start(db):
    """Staff delete the only Campus Cloud window (to replace it, say). Its version updates must not
    become startable at any hour meanwhile: they conflict, the dispatcher leaves them, no new one
    can be scheduled, and the next possible start is none until a window is set again. A refresh,
    bound to no window, and an overridden update are not held (the refresh is let through before
    the window comes back: it holds production, which it copies)."""
    world = await make_world()
    (thursday,) = await all_rules()
    update = await world.request_version()
    overridden = await world.request_version(environment=E.STAGING)
    refresh = await world.request_refresh(E.SANDBOX)
    await world.schedule(update.id, IN_WINDOW)
    await world.schedule(overridden.id, OUTSIDE_WINDOW, override=True)
    await schedule_update_request(world.staff_actor, refresh.id, OUTSIDE_WINDOW, now=T0)

    await delete_rule(world.staff_actor, thursday.id)
    (finding,) = await schedule_conflicts(world.staff_actor, now=T0)
    assert (finding.code, finding.update_request_id) == (C.OUTSIDE_MAINTENANCE_WINDOW, update.id)
    assert "No maintenance window is set" in finding.message
    assert finding.message.endswith("There is no possible start until a window is set.")
    clear = OUTSIDE_WINDOW + 3 * HOUR  # clear of the refresh, which holds production too
    verdict = await schedule_check(world.staff_actor, update.id, clear, now=T0)
    assert (codes(verdict.findings), verdict.next_possible_start) == ([C.OUTSIDE_MAINTENANCE_WINDOW], None)
    assert (await refused(world.schedule(update.id, clear))).code is C.OUTSIDE_MAINTENANCE_WINDOW

    assert not await dispatch(update.id, now=IN_WINDOW)
    held = await UpdateRequest.get(id=update.id)
    assert (held.status, held.scheduled_start) == (UpdateStatus.SCHEDULED, IN_WINDOW)  # left for staff
    assert await dispatch(overridden.id, now=OUTSIDE_WINDOW)
    ran_at = OUTSIDE_WINDOW + 2 * HOUR
    assert await dispatch(refresh.id, now=ran_at)
    assert await begin(refresh.id, now=ran_at) is not None
    await complete(refresh.id, now=ran_at + HOUR)

    # A window set again: the held update starts inside it.
    await create_rule(
        world.staff_actor, check_rule(HostingModel.CAMPUS_CLOUD, 4, "00:30", "03:30", "America/Chicago")
    )
    assert await dispatch(update.id, now=NEXT_OPENING)
    assert (await UpdateRequest.get(id=update.id)).status is UpdateStatus.NOT_STARTED


async def test_a_window_moved_past_midnight_lists_what_it_left_behind(db):
    """The Thursday window becomes Wednesday 23:30 to Thursday 01:30: work at Thursday 01:00 is
    still inside it but has only 30 minutes; work at 00:45 has 45; work at 00:15 fits."""
    world = await make_world()
    (thursday,) = await all_rules()
    fits = await world.request_version()
    short = await world.request_version(environment=E.STAGING)
    await world.schedule(fits.id, OPENS)
    await world.schedule(short.id, IN_WINDOW)
    await update_rule(
        world.staff_actor,
        thursday.id,
        check_rule(HostingModel.CAMPUS_CLOUD, 3, "23:30", "01:30", "America/Chicago"),
    )
    found = await schedule_conflicts(world.staff_actor, now=T0)
    assert [(f.code, f.update_request_id) for f in found] == [(C.WINDOW_TOO_SHORT, short.id)]
    assert "Wednesday 23:30-01:30" in found[0].message
    earlier = await schedule_check(world.staff_actor, short.id, OPENS - timedelta(minutes=45), now=T0)
    assert earlier.findings == []  # Wednesday 23:45 CST


# --------------------------------------------------------------------- scopes in scheduleConflicts


async def test_a_group_blackout_and_a_district_blackout_each_list_only_their_work(db):
    group = await make_group()
    grouped = await make_world(group=group)
    alone = await make_world()
    in_group = await grouped.request_refresh()
    outside = await alone.request_refresh()
    await grouped.schedule(in_group.id, IN_WINDOW)
    await alone.schedule(outside.id, IN_WINDOW + timedelta(days=7))
    group_blackout = await black_out(grouped, IN_WINDOW - HOUR, IN_WINDOW + HOUR, update_group_id=group.id)
    (finding,) = await schedule_conflicts(grouped.staff_actor, now=T0)
    assert (finding.update_request_id, finding.blackout_id) == (in_group.id, group_blackout)
    district_blackout = await black_out(
        alone, IN_WINDOW + timedelta(days=7), IN_WINDOW + timedelta(days=7, minutes=1)
    )
    found = await schedule_conflicts(grouped.staff_actor, now=T0)
    assert [(f.update_request_id, f.blackout_id) for f in found] == [
        (in_group.id, group_blackout),
        (outside.id, district_blackout),
    ]


async def test_a_district_that_joins_a_blacked_out_group_after_scheduling_is_held_by_its_blackout(db):
    """The group's blackout was there before the district joined the group (its request already
    scheduled): from then on it is the district's too, listed, refused and kept from starting."""
    group = await make_group()
    world = await make_world()
    request = await world.request_version()
    await world.schedule(request.id, IN_WINDOW)
    blackout = await black_out(world, IN_WINDOW - HOUR, IN_WINDOW + HOUR, update_group_id=group.id)
    assert await schedule_conflicts(world.staff_actor, now=T0) == []

    await District.filter(id=world.district.id).update(update_group_id=group.id)
    (finding,) = await schedule_conflicts(world.staff_actor, now=T0)
    assert (finding.code, finding.update_request_id, finding.blackout_id) == (
        C.BLACKOUT,
        request.id,
        blackout,
    )
    verdict = await schedule_check(world.staff_actor, request.id, IN_WINDOW, now=T0)
    assert (codes(verdict.findings), verdict.next_possible_start) == ([C.BLACKOUT], IN_WINDOW + HOUR)
    assert not await dispatch(request.id, now=IN_WINDOW)
    moved = await UpdateRequest.get(id=request.id)
    assert (moved.status, moved.scheduled_start) == (UpdateStatus.SCHEDULED, IN_WINDOW + HOUR)


# --------------------------------------------------------------------- the autumn night end to end


async def test_a_sunday_window_on_the_night_the_clocks_fall_back(db):
    """The window moved to Sunday 00:30-03:30: on 2027-11-07 it lasts four real hours. Work at the
    second 01:15 (CST) is checked, scheduled and invited at that instant, not an hour earlier."""
    world = await make_world()
    (seeded,) = await all_rules()
    await update_rule(
        world.staff_actor,
        seeded.id,
        check_rule(HostingModel.CAMPUS_CLOUD, 7, "00:30", "03:30", "America/Chicago"),
    )
    request = await world.request_version()
    second_0115 = datetime(2027, 11, 7, 7, 15, tzinfo=UTC)
    verdict = await schedule_check(world.staff_actor, request.id, second_0115, now=T0)
    assert (verdict.findings, verdict.next_possible_start) == ([], second_0115)
    too_late = await schedule_check(
        world.staff_actor, request.id, datetime(2027, 11, 7, 8, 31, tzinfo=UTC), now=T0
    )
    assert codes(too_late.findings) == [C.WINDOW_TOO_SHORT]
    assert too_late.next_possible_start == datetime(2027, 11, 14, 6, 30, tzinfo=UTC)
    await world.schedule(request.id, second_0115)
    mail = await Notification.get(update_request_id=request.id, kind=NotificationKind.SCHEDULED)
    assert "Sunday, November 07, 2027 at 01:15 AM CST" in mail.subject
    (event,) = Calendar.from_ical(mail.calendar or "").walk("VEVENT")
    assert event.decoded("dtstart").astimezone(UTC) == second_0115


# --------------------------------------------------------------------- a due request still waiting


async def test_a_due_request_waiting_for_its_site_still_holds_a_slot(db):
    """A sandbox refresh runs from 00:01 CST and overruns; the staging refresh due at 01:00 (it
    copies production too) waits for it, still SCHEDULED. At 02:00 its nominal slot (01:00-02:00)
    is over, but it has not run: it will as soon as the site is free. A production update proposed
    for 02:15 would run beside it, so the check must say ENVIRONMENT_BUSY naming it."""
    world = await make_world()
    running = await world.request_refresh(E.SANDBOX)
    waiting = await world.request_refresh(E.STAGING)
    await world.schedule(running.id, IN_WINDOW - HOUR)
    await world.schedule(waiting.id, IN_WINDOW)
    assert await dispatch(running.id, now=IN_WINDOW - HOUR)
    assert await begin(running.id, now=IN_WINDOW - HOUR + MINUTE) is not None
    assert not await dispatch(waiting.id, now=IN_WINDOW)  # the site is busy: it waits
    assert (await UpdateRequest.get(id=waiting.id)).status is UpdateStatus.SCHEDULED
    now = IN_WINDOW + HOUR
    update = await world.request_version()
    proposed = now + timedelta(minutes=15)
    verdict = await schedule_check(world.staff_actor, update.id, proposed, now=now)
    assert codes(verdict.findings) == [C.ENVIRONMENT_BUSY]
    assert verdict.findings[0].conflicting_request_id == waiting.id


# --------------------------------------------------------------------- resuming with the old start


async def test_resuming_into_a_slot_taken_meanwhile_is_refused(db):
    """Scheduled for 01:00, deferred (its slot freed), the slot given to a sandbox refresh that
    also holds production, then resumed with the old start: that would double-book the site, which
    staff scheduling never allows. The resume is refused with ENVIRONMENT_BUSY and moves nothing."""
    world = await make_world()
    deferred = await world.request_version()
    await world.schedule(deferred.id, IN_WINDOW)
    await world.set_status(deferred.id, UpdateStatus.DEFERRED, "Waiting for the SSO change.")
    refresh = await world.request_refresh(E.SANDBOX)
    await world.schedule(refresh.id, IN_WINDOW)
    caught = await refused(world.set_status(deferred.id, UpdateStatus.SCHEDULED))
    assert (caught.code, caught.field) == (C.ENVIRONMENT_BUSY, "status")
    assert "is scheduled for" in caught.message
    assert (await UpdateRequest.get(id=deferred.id)).status is UpdateStatus.DEFERRED
    assert await schedule_conflicts(world.staff_actor, now=T0) == []


async def test_resuming_into_a_blackout_added_meanwhile_is_refused(db):
    world = await make_world()
    paused = await world.request_version()
    await world.schedule(paused.id, IN_WINDOW)
    await world.set_status(paused.id, UpdateStatus.PENDING_INPUT, "Which SSO provider?")
    blackout = await black_out(world, IN_WINDOW - HOUR, IN_WINDOW + HOUR)
    invitations = await Notification.filter(
        update_request_id=paused.id, kind=NotificationKind.SCHEDULED
    ).count()
    caught = await refused(world.set_status(paused.id, UpdateStatus.SCHEDULED))
    assert caught.code is C.BLACKOUT and "Switch replacement" in caught.message
    assert (await UpdateRequest.get(id=paused.id)).status is UpdateStatus.PENDING_INPUT
    # No invitation for a time nobody may work in.
    assert (
        await Notification.filter(update_request_id=paused.id, kind=NotificationKind.SCHEDULED).count()
        == invitations
    )
    assert blackout  # it is the district's, and it holds
    # Back to the queue is always possible; a new start is then given with scheduleUpdateRequest.
    await world.set_status(paused.id, UpdateStatus.TO_BE_SCHEDULED)
    await world.schedule(paused.id, IN_WINDOW + timedelta(days=7))
