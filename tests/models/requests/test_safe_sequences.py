"""Running safely, probed with ordinary sequences the other tests of issue 12 do not walk: a client
retrying its submission late, jobs that die in the middle of production's update while a refresh
waits, an older update that comes back after a newer one, windows changed and blackouts added after
dispatch, staff cancelling the automatic sandbox update, and the words of every system move.
Injected clocks; against a real database, on both backends."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

import pytest
from icalendar import Calendar

from models.blackouts import BlackoutScope, create_blackout
from models.enums import EnvironmentKind, ErrorCode, NotificationKind, UpdateStatus
from models.requests import claims
from models.requests.completion import complete
from models.requests.dispatch import dispatch
from models.requests.execution import begin
from models.requests.leases import Reclaim, reclaim_lapsed
from models.requests.withdrawing import delete_update_request
from models.running import RunPolicy
from models.tables import Environment, MaintenanceWindow, Notification, StatusChange, UpdateRequest
from tests.models.scenario import (
    AFTER_RUN,
    DONE_AT,
    IN_WINDOW,
    RUN_AT,
    T0,
    World,
    make_world,
    refused,
    status_of,
)

S = UpdateStatus
E = EnvironmentKind
LEASE = timedelta(seconds=60)
POLICY = RunPolicy(lease=LEASE, attempts=2, staff_alert_email="oncall@hosting.example")
#: Thursday 2026-11-05 00:30 CST, when the seeded window opens, and the week after.
OPENS = datetime(2026, 11, 5, 6, 30, tzinfo=UTC)
NEXT_OPENING = OPENS + timedelta(days=7)
#: Thursday 03:00 CST: inside the window with 30 of the expected 60 minutes left.
TOO_LATE = OPENS + timedelta(hours=2, minutes=30)
#: Thursday 09:00 CST: outside the window.
THURSDAY_MORNING = datetime(2026, 11, 5, 15, 0, tzinfo=UTC)
#: How a database number, or the queue's own machinery, would show in words meant for people.
NUMBERED = re.compile(r"(?i)\brequest\s*(?:number|no\.?|#|id)?\s*:?\s*\d+")
INTERNALS = re.compile(r"(?i)lease|token|updatedesk_|traceback|exception|_id\b|\bNone\b|\d{4}-\d\d-\d\dT")


async def blocker(request_id: int) -> int | None:
    request = await UpdateRequest.get(id=request_id).select_related("environment")
    _, holder = await claims.needed_and_blocker(request, request.environment.kind)
    return holder


async def site(world: World, kind: E = E.PRODUCTION) -> Environment:
    return await Environment.get(district_id=world.district.id, kind=kind)


async def last_change(request_id: int) -> StatusChange:
    row = await StatusChange.filter(update_request_id=request_id).order_by("-id").first()
    assert row is not None
    return row


# --------------------------------------------------------------------- idempotency keys


async def test_a_retry_sent_after_its_preferred_start_passed_returns_the_first_request(db):
    """A client whose answer was lost sends the very same submission again, later: the key answers
    with the request it made, even though the preferred start it carries has passed since."""
    world = await make_world()
    preferred = T0 + timedelta(hours=1)
    first = await world.request_version(idempotency_key="form-9", preferred_start=preferred, now=T0)
    again = await world.request_version(
        idempotency_key="form-9", preferred_start=preferred, now=T0 + timedelta(hours=2)
    )
    assert again.id == first.id
    assert await UpdateRequest.all().count() == 1
    # A new submission (a new key) with a start in the past is still refused.
    error = await refused(
        world.request_version(
            environment=E.STAGING,
            idempotency_key="form-10",
            preferred_start=preferred,
            now=T0 + timedelta(hours=2),
        )
    )
    assert (error.code, error.field) == (ErrorCode.VALIDATION, "preferredStart")


async def test_a_replay_after_the_request_ran_returns_it_rather_than_a_refusal(db):
    """Once the request ran, its version is no longer newer than the site's, and a newer request
    may have superseded and completed it: the replay still answers with the request the key made."""
    world = await make_world()
    older = await world.request_version("Campus.2435.3", idempotency_key="older")
    newer = await world.request_version("Campus.2435.4", idempotency_key="newer")
    await world.drive(newer.id, S.COMPLETED)
    assert (await status_of(older.id), (await site(world)).current_version) == (S.COMPLETED, "Campus.2435.4")
    assert (await world.request_version("Campus.2435.3", idempotency_key="older")).id == older.id
    assert (await world.request_version("Campus.2435.4", idempotency_key="newer")).id == newer.id
    assert await UpdateRequest.filter(district_id=world.district.id, automatic=False).count() == 2
    # Different input on a spent key is refused, not answered with a new request.
    error = await refused(world.request_version("Campus.2435.9", idempotency_key="newer"))
    assert error.code is ErrorCode.IDEMPOTENCY_KEY_REUSED


# --------------------------------------------------------------------- one job, nothing stranded


@pytest.mark.parametrize("ending", ["resumed", "given up"])
async def test_a_refresh_waits_through_production_s_lapsed_lease_and_starts_after_it_ends(db, ending):
    """Production's update is IN_PROGRESS when its worker dies: between the lapse and the next job
    nobody holds its lease, yet production is still being updated, so a due refresh of the sandbox
    keeps waiting for it (never copying a half-updated production) until it is finished or given up."""
    world = await make_world()
    update = await world.request_version()
    refresh = await world.request_refresh(E.SANDBOX)
    await world.schedule(update.id)
    assert await dispatch(update.id, now=IN_WINDOW, policy=POLICY)
    assert await begin(update.id, now=RUN_AT, token="first-job", policy=POLICY) is not None
    await world.schedule(refresh.id, AFTER_RUN)  # clear of the update's expected hour
    lapsed_at = RUN_AT + LEASE + timedelta(seconds=1)
    [requeued] = await reclaim_lapsed(POLICY, now=lapsed_at)
    assert requeued.outcome is Reclaim.REQUEUED
    due = AFTER_RUN
    assert not await dispatch(refresh.id, now=due, policy=POLICY)
    assert (await status_of(refresh.id), await blocker(refresh.id)) == (S.SCHEDULED, update.id)
    assert not (await site(world)).online
    assert await begin(update.id, now=due, token="second-job", policy=POLICY) is not None
    assert not await dispatch(refresh.id, now=due + timedelta(minutes=1), policy=POLICY)
    ended = due + timedelta(minutes=5)
    if ending == "resumed":
        await complete(update.id, now=ended, lease_token="second-job", policy=POLICY)
        assert await status_of(update.id) is S.COMPLETED
    else:
        ended = due + LEASE + timedelta(seconds=1)
        [given_up] = await reclaim_lapsed(POLICY, now=ended)
        assert given_up.outcome is Reclaim.GAVE_UP
        assert await status_of(update.id) is S.UNABLE_TO_COMPLETE
        told = await Notification.filter(update_request_id=update.id).values_list("kind", "recipient")
        assert (NotificationKind.UNABLE_TO_COMPLETE, world.requester.email) in told
        assert (NotificationKind.STAFF_ALERT, "oncall@hosting.example") in told
    production = await site(world)
    assert (production.online, production.running_request_id) == (True, None)
    assert await blocker(refresh.id) is None
    assert await dispatch(refresh.id, now=ended, policy=POLICY)
    assert (await site(world)).running_request_id == refresh.id


async def test_staff_trying_again_after_a_give_up_gets_every_attempt_back(db):
    """Given up after its lapsed leases, taken back by staff: the new run is counted afresh, so one
    lapse re-enqueues it instead of giving it up at once."""
    world = await make_world()
    request = await world.request_version()
    await world.schedule(request.id)
    assert await dispatch(request.id, now=IN_WINDOW, policy=POLICY)
    now = RUN_AT
    for attempt in range(POLICY.attempts):
        assert await begin(request.id, now=now, token=f"job-{attempt}", policy=POLICY) is not None
        now += LEASE + timedelta(seconds=1)
        [reclaimed] = await reclaim_lapsed(POLICY, now=now)
    assert reclaimed.outcome is Reclaim.GAVE_UP
    await world.set_status(request.id, S.TO_BE_SCHEDULED, "We fixed the worker; trying again.")
    retry = await UpdateRequest.get(id=request.id)
    assert (retry.attempts, retry.reclaims, retry.completed_steps, retry.lease_token) == (0, 0, [], None)
    await world.schedule(request.id, NEXT_OPENING)
    assert await dispatch(request.id, now=NEXT_OPENING, policy=POLICY)
    assert await begin(request.id, now=NEXT_OPENING, token="after-retry", policy=POLICY) is not None
    [reclaimed] = await reclaim_lapsed(POLICY, now=NEXT_OPENING + LEASE + timedelta(seconds=1))
    assert reclaimed.outcome is Reclaim.REQUEUED
    assert await status_of(request.id) is S.IN_PROGRESS


# --------------------------------------------------------------------- never backwards


async def test_an_older_update_re_slotted_behind_a_newer_one_installs_nothing(db):
    """The older update was dispatched (so the newer one could not supersede it), then its job came
    too late for the window and it went back to SCHEDULED. Staff run the newer one first: when the
    older one is picked up, production already runs something newer, so nothing is installed and
    the sandbox is not asked to follow it backwards."""
    world = await make_world()
    older = await world.request_version("Campus.2435.4")
    await world.schedule(older.id, IN_WINDOW)
    assert await dispatch(older.id, now=IN_WINDOW)
    newer = await world.request_version("Campus.2435.9")
    assert await status_of(older.id) is S.NOT_STARTED  # not superseded: it was already dispatched
    assert await begin(older.id, now=TOO_LATE) is None  # re-slotted: it no longer fits the window
    assert (await UpdateRequest.get(id=older.id)).scheduled_start == NEXT_OPENING
    latest_fit = NEXT_OPENING + timedelta(hours=2)
    await world.schedule(older.id, latest_fit)
    await world.schedule(newer.id, NEXT_OPENING)
    assert await dispatch(newer.id, now=NEXT_OPENING)
    assert await begin(newer.id, now=NEXT_OPENING) is not None
    await complete(newer.id, now=NEXT_OPENING + timedelta(minutes=50))
    assert await dispatch(older.id, now=latest_fit)
    assert await begin(older.id, now=latest_fit) is None
    finished = await UpdateRequest.get(id=older.id)
    assert finished.status is S.COMPLETED
    assert finished.status_message is not None and "already runs Campus.2435.9" in finished.status_message
    production = await site(world)
    assert (production.current_version, production.running_request_id, production.online) == (
        "Campus.2435.9",
        None,
        True,
    )
    followers = await UpdateRequest.filter(district_id=world.district.id, automatic=True)
    assert [r.target_version for r in followers] == ["Campus.2435.9"]


# --------------------------------------------------------------------- windows at the start


async def test_a_window_moved_after_scheduling_is_what_the_start_is_judged_by(db):
    """Staff move the window after a request was scheduled: nothing moves then (scheduleConflicts
    lists it); when it falls due, the dispatcher judges it by the window as it is now and moves it
    to that window's first slot that fits, saying why."""
    world = await make_world()
    request = await world.request_version()
    await world.schedule(request.id, IN_WINDOW)  # Thursday 01:00 CST
    window = await MaintenanceWindow.get(hosting_model=world.district.hosting_model)
    window.start_time, window.end_time = time(2, 0, tzinfo=UTC), time(5, 0, tzinfo=UTC)
    await window.save()
    assert not await dispatch(request.id, now=IN_WINDOW)
    moved_to = datetime(2026, 11, 5, 8, 0, tzinfo=UTC)  # Thursday 02:00 CST, the same night
    moved = await UpdateRequest.get(id=request.id)
    assert (moved.status, moved.scheduled_start) == (S.SCHEDULED, moved_to)
    change = await last_change(request.id)
    assert (change.actor, change.message) == (
        "SYSTEM",
        "It could no longer start in time to finish inside the maintenance window, so it moved to "
        "Thursday, November 05, 2026 at 02:00 AM CST.",
    )
    assert await dispatch(request.id, now=moved_to)


async def test_begin_keeps_the_window_override_when_a_blackout_moves_dispatched_work(db):
    """Staff scheduled the update outside the window (override); after dispatch a blackout covering
    that morning is added: the worker's begin does not start it, and moves it to the end of the
    blackout, not to a window, because the override still holds; there it starts."""
    world = await make_world()
    request = await world.request_version()
    await world.schedule(request.id, THURSDAY_MORNING, override=True)
    assert await dispatch(request.id, now=THURSDAY_MORNING)
    ends = THURSDAY_MORNING + timedelta(hours=3)
    await create_blackout(
        world.staff_actor,
        start=THURSDAY_MORNING - timedelta(hours=1),
        end=ends,
        reason="Emergency network work",
        scope=BlackoutScope(district_id=world.district.id),
        now=T0,
    )
    assert await begin(request.id, now=THURSDAY_MORNING + timedelta(minutes=1)) is None
    moved = await UpdateRequest.get(id=request.id)
    assert (moved.status, moved.scheduled_start, moved.window_override) == (S.SCHEDULED, ends, True)
    production = await site(world)
    assert (production.running_request_id, production.online) == (None, True)
    assert await dispatch(request.id, now=ends)
    assert await begin(request.id, now=ends + timedelta(minutes=1)) is not None


# --------------------------------------------------------------------- cancel returns superseded


async def test_staff_cancelling_the_automatic_sandbox_update_returns_the_one_it_superseded(db):
    world = await make_world()
    first = await world.request_version("Campus.2435.4")
    await world.drive(first.id, S.COMPLETED)
    older_sandbox = await UpdateRequest.get(district_id=world.district.id, automatic=True)
    second = await world.request_version("Campus.2435.9")
    await world.schedule(second.id, DONE_AT + timedelta(minutes=10))
    assert await dispatch(second.id, now=DONE_AT + timedelta(minutes=10))
    assert await begin(second.id, now=DONE_AT + timedelta(minutes=11)) is not None
    await complete(second.id, now=DONE_AT + timedelta(minutes=20))
    newer_sandbox = await UpdateRequest.get(
        district_id=world.district.id, automatic=True, target_version="Campus.2435.9"
    )
    assert (await UpdateRequest.get(id=older_sandbox.id)).superseded_by_id == newer_sandbox.id
    # A district contact may not cancel it; staff may, and the older one comes back.
    assert (await refused(world.cancel(newer_sandbox.id))).code is ErrorCode.FORBIDDEN
    await world.cancel(newer_sandbox.id, actor=world.staff_actor)
    returned = await UpdateRequest.get(id=older_sandbox.id)
    assert (returned.status, returned.superseded_by_id) == (S.TO_BE_SCHEDULED, None)
    change = await last_change(older_sandbox.id)
    assert (change.from_status, change.actor) == (S.NEW_VERSION_REQUESTED, "SYSTEM")
    assert change.message is not None and "Campus.2435.9 was cancelled" in change.message


# --------------------------------------------------------------------- deleting, words


async def test_a_second_delete_changes_nothing_and_keeps_who_deleted_it(db):
    world = await make_world()
    request = await world.request_version()
    await world.drive(request.id, S.COMPLETED)
    await delete_update_request(world.requester_actor, request.id, now=T0 + timedelta(days=1))
    error = await refused(delete_update_request(world.staff_actor, request.id, now=T0 + timedelta(days=2)))
    assert error.code is ErrorCode.NOT_FOUND
    stored = await UpdateRequest.get(id=request.id)
    assert (stored.deleted_at, stored.deleted_by_id) == (T0 + timedelta(days=1), world.requester.id)


async def test_every_system_move_speaks_words_without_numbers_or_internals(db):
    """The moves the queue makes on its own (re-slot for a window, re-slot for a blackout, the
    automatic sandbox update, completing without running, returning a superseded request, giving up
    after lapsed leases) reach districts in words: no database numbers, no lease or setting names."""
    world = await make_world()
    late = await world.request_version(environment=E.STAGING)
    await world.schedule(late.id, IN_WINDOW)
    assert not await dispatch(late.id, now=THURSDAY_MORNING)  # window: re-slotted
    refresh = await world.request_refresh(E.SANDBOX)
    await world.schedule(refresh.id, THURSDAY_MORNING + timedelta(hours=1))
    await create_blackout(
        world.staff_actor,
        start=THURSDAY_MORNING,
        end=THURSDAY_MORNING + timedelta(hours=4),
        reason="State testing",
        scope=BlackoutScope(district_id=world.district.id),
        now=T0,
    )
    assert not await dispatch(refresh.id, now=THURSDAY_MORNING + timedelta(hours=1))  # blackout
    older = await world.request_version("Campus.2435.3")
    newer = await world.request_version("Campus.2435.4")
    await world.cancel(newer.id)  # the older one comes back
    await world.drive(older.id, S.COMPLETED)  # the sandbox follows, automatically
    preview = await world.request_version(environment=E.PREVIEW)
    await world.schedule(preview.id)
    assert await dispatch(preview.id, now=IN_WINDOW)
    await Environment.filter(district_id=world.district.id, kind=E.PREVIEW).update(
        current_version="Campus.2439.1"
    )
    assert await begin(preview.id, now=RUN_AT) is None  # completed without running
    doomed = await world.request_version("Campus.2435.9", environment=E.STAGING, now=T0)
    await world.schedule(doomed.id, NEXT_OPENING + timedelta(hours=1, minutes=30))
    assert await dispatch(doomed.id, now=NEXT_OPENING + timedelta(hours=1, minutes=30), policy=POLICY)
    now = NEXT_OPENING + timedelta(hours=1, minutes=31)
    for attempt in range(POLICY.attempts):
        assert await begin(doomed.id, now=now, token=f"job-{attempt}", policy=POLICY) is not None
        now += LEASE + timedelta(seconds=1)
        await reclaim_lapsed(POLICY, now=now)
    assert await status_of(doomed.id) is S.UNABLE_TO_COMPLETE
    system = await StatusChange.filter(actor="SYSTEM").exclude(message=None).values_list("message", flat=True)
    words = [str(m) for m in system]
    words += [str(m) for m in await UpdateRequest.all().values_list("status_message", flat=True) if m]
    for mail in await Notification.exclude(kind=NotificationKind.STAFF_ALERT):
        words += [mail.subject, mail.body]
    assert len(system) >= 5
    offenders = [w for w in words if NUMBERED.search(w) or INTERNALS.search(w)]
    assert offenders == []


async def invitations(request_id: int) -> list[tuple[str, int, datetime]]:
    """(UID, SEQUENCE, DTSTART) of each invitation mailed to the requester, in order."""
    mails = await Notification.filter(update_request_id=request_id, kind=NotificationKind.SCHEDULED).order_by(
        "id"
    )
    found = []
    for mail in mails:
        assert mail.calendar is not None
        event = next(iter(Calendar.from_ical(mail.calendar).walk("VEVENT")))
        found.append((str(event["uid"]), event.decoded("sequence"), event.decoded("dtstart")))
    return found


async def test_a_job_that_begins_too_late_sends_the_district_a_new_invitation(db):
    """Dispatched in time, begun by a worker only when the window no longer has the expected hour:
    the district's calendar entry moves (same UID, higher SEQUENCE) and the mail says why."""
    world = await make_world()
    request = await world.request_version()
    await world.schedule(request.id, IN_WINDOW)
    assert await dispatch(request.id, now=IN_WINDOW)
    assert await begin(request.id, now=TOO_LATE) is None
    (uid, first_sequence, first_start), (moved_uid, sequence, start) = await invitations(request.id)
    assert (moved_uid, start, first_start) == (uid, NEXT_OPENING, IN_WINDOW) and sequence > first_sequence
    mail = (
        await Notification.filter(update_request_id=request.id, kind=NotificationKind.SCHEDULED)
        .order_by("-id")
        .first()
    )
    assert mail is not None and mail.recipient == world.requester.email
    assert "could no longer start in time to finish inside the maintenance window" in mail.body


async def test_work_no_window_fits_any_more_frees_its_site_and_waits_for_staff_quietly(db):
    """After dispatch, staff shorten the window below the expected hour: the worker's begin does not
    start the update, gives the site back and leaves it SCHEDULED for staff, saying so; later
    dispatcher passes neither start it nor move it again (no new history, no new mail)."""
    world = await make_world()
    request = await world.request_version()
    waiting = await world.request_refresh(E.STAGING)  # shares production with the update
    await world.schedule(request.id, IN_WINDOW)
    await world.schedule(waiting.id, IN_WINDOW + timedelta(hours=1))
    assert await dispatch(request.id, now=IN_WINDOW)
    scheduled_mails = await Notification.filter(update_request_id=request.id, kind=NotificationKind.SCHEDULED)
    window = await MaintenanceWindow.get(hosting_model=world.district.hosting_model)
    window.end_time = time(1, 0, tzinfo=UTC)  # Thursday 00:30-01:00 CST: half an hour
    await window.save()
    assert await begin(request.id, now=RUN_AT) is None
    stored = await UpdateRequest.get(id=request.id)
    assert (stored.status, stored.started_at) == (S.SCHEDULED, None)
    assert (
        stored.status_message is not None and "Campus Hosting will choose a new time" in stored.status_message
    )
    # No "Scheduled" mail, nor an invitation, for the start that has passed: it holds no time yet.
    assert (
        await Notification.filter(update_request_id=request.id, kind=NotificationKind.SCHEDULED)
    ) == scheduled_mails
    production = await site(world)
    assert (production.running_request_id, production.online) == (None, True)
    moves = await StatusChange.filter(update_request_id=request.id).count()
    mails = await Notification.filter(update_request_id=request.id).count()
    for later in (RUN_AT + timedelta(minutes=1), THURSDAY_MORNING, NEXT_OPENING):
        assert not await dispatch(request.id, now=later)
    assert await StatusChange.filter(update_request_id=request.id).count() == moves
    assert await Notification.filter(update_request_id=request.id).count() == mails
    # The site it gave back is free for the refresh waiting behind it (not bound to windows).
    assert await dispatch(waiting.id, now=IN_WINDOW + timedelta(hours=1))
