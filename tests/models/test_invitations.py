"""Calendars that stay true, through the outbox: one UID per request, an update with a higher
SEQUENCE on each reschedule, a cancellation when the work will not happen at that time, DTSTAMP
when the message was made; and who is told, per role and preference (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from icalendar import Calendar

from models.enums import EnvironmentKind, NotificationKind, NotifyPreference, Role, UpdateStatus
from models.notices import invitation_uid
from models.preferences import set_notify
from models.requests.staff import schedule_update_request
from models.requests.withdrawing import cancel_update_request
from models.rollouts.starting import start_group_rollout
from models.tables import Account, Notification, UpdateRequest
from tests.factories import make_account, make_group
from tests.models.scenario import IN_WINDOW, IN_WINDOW_NEXT_WEEK, T0, make_world

S = UpdateStatus
K = NotificationKind


async def calendar_messages(request_id: int, recipient: str) -> list[tuple[str, str, int, object, object]]:
    """(method, uid, sequence, dtstart, dtstamp) of each calendar mail to `recipient`, in order."""
    rows = await Notification.filter(
        update_request_id=request_id, recipient=recipient, calendar__isnull=False
    ).order_by("id")
    found = []
    for row in rows:
        calendar = Calendar.from_ical(row.calendar or "")
        (event,) = calendar.walk("VEVENT")
        found.append(
            (
                str(calendar["method"]),
                str(event["uid"]),
                int(str(event["sequence"])),
                event.decoded("dtstart"),
                event.decoded("dtstamp"),
            )
        )
    return found


async def told(request_id: int, kind: K) -> set[str]:
    rows = await Notification.filter(update_request_id=request_id, kind=kind).values_list(
        "recipient", flat=True
    )
    return {str(row) for row in rows}


async def test_schedule_reschedule_cancel_is_one_event_with_rising_sequence(db):
    world = await make_world()
    request = await world.request_version()
    await world.schedule(request.id)
    later = T0 + timedelta(hours=2)
    await schedule_update_request(world.staff_actor, request.id, IN_WINDOW_NEXT_WEEK, now=later)
    cancelled_at = T0 + timedelta(hours=3)
    await cancel_update_request(world.requester_actor, request.id, now=cancelled_at)
    uid = invitation_uid(request.id)
    assert await calendar_messages(request.id, world.requester.email) == [
        ("REQUEST", uid, 0, IN_WINDOW, T0),
        ("REQUEST", uid, 1, IN_WINDOW_NEXT_WEEK, later),
        ("CANCEL", uid, 2, IN_WINDOW_NEXT_WEEK, cancelled_at),
    ]
    cancel = await Notification.get(update_request_id=request.id, kind=K.CANCELLED)
    assert cancel.subject.startswith("Cancelled: ") and "was cancelled" in cancel.body
    assert "STATUS:CANCELLED" in (cancel.calendar or "")


@pytest.mark.parametrize("pause", [S.PENDING_INPUT, S.DEFERRED])
async def test_pausing_a_scheduled_request_withdraws_its_invitation_and_resuming_renews_it(db, pause):
    world = await make_world()
    request = await world.request_version()
    await world.schedule(request.id)
    await world.set_status(request.id, pause, "Please confirm the SSO change first.")
    if pause is S.PENDING_INPUT:
        await world.set_status(request.id, S.DEFERRED, "On hold until January.")  # nothing more to cancel
    await world.set_status(request.id, S.SCHEDULED)  # resumed with its (future) start
    methods = [(m[0], m[2]) for m in await calendar_messages(request.id, world.requester.email)]
    assert methods == [("REQUEST", 0), ("CANCEL", 1), ("REQUEST", 2)]
    paused = await Notification.get(update_request_id=request.id, kind=K(pause.value))
    assert "Please confirm the SSO change first." in paused.body


async def test_supersession_cancels_the_older_requests_invitation(db):
    world = await make_world()
    older = await world.request_version("Campus.2435.3")
    await world.schedule(older.id)
    newer = await world.request_version("Campus.2435.4")
    assert [m[0] for m in await calendar_messages(older.id, world.requester.email)] == ["REQUEST", "CANCEL"]
    notice = await Notification.get(update_request_id=older.id, kind=K.SUPERSEDED)
    assert "replaced by a newer request" in notice.body
    assert await Notification.filter(update_request_id=newer.id).count() == 0


async def test_withdrawing_what_was_never_invited_sends_nothing(db):
    world = await make_world()
    request = await world.request_version("Campus.2435.3")
    await world.request_version("Campus.2435.4")  # supersedes an unscheduled request
    other = await world.request_version("Campus.2435.3", environment=EnvironmentKind.STAGING)
    await world.cancel(other.id)
    assert await Notification.all().count() == 0
    assert await Notification.filter(update_request_id=request.id).count() == 0


# --------------------------------------------------------------------- who is told


async def test_recipients_per_role_and_preference(db):
    world = await make_world(requester_role=Role.STATE_CONTACT)  # the requester is a state contact
    district = world.district
    quiet_tc = await make_account(Role.TECHNICAL_CONTACT, [district], email="quiet-tc@district.example")
    await set_notify(quiet_tc.id, NotifyPreference.NONE)
    tc = await make_account(Role.TECHNICAL_CONTACT, [district], email="tc@district.example")
    partner = await make_account(Role.PARTNER, [district], email="partner@vendor.example")
    keen_esa = await make_account(Role.ESA, [district], email="keen-esa@esa.example")
    await set_notify(keen_esa.id, NotifyPreference.ALL_MY_DISTRICTS)
    keen_viewer = await make_account(Role.VIEWER, [district], email="keen-viewer@district.example")
    await set_notify(keen_viewer.id, NotifyPreference.ALL_MY_DISTRICTS)
    keen_staff = await make_account(Role.HOSTING_STAFF, email="keen-staff@hosting.example")
    await set_notify(keen_staff.id, NotifyPreference.ALL_MY_DISTRICTS)
    gone = await make_account(Role.TECHNICAL_CONTACT, [district], email="gone@district.example")
    await Account.filter(id=gone.id).update(active=False)

    request = await world.request_version()
    await world.schedule(request.id)
    assert await told(request.id, K.SCHEDULED) == {
        world.requester.email,  # a state contact: its own request (default MY_REQUESTS)
        tc.email,  # technical contacts: everything of their districts (default)
        keen_esa.email,
        keen_viewer.email,
        keen_staff.email,
    }
    assert partner.email not in await told(request.id, K.SCHEDULED)  # someone else's request
    assert world.staff.email not in await told(request.id, K.SCHEDULED)  # staff who acted: default NONE


async def test_a_district_served_only_by_a_state_contact_who_opts_in_is_told(db):
    group = await make_group()
    world = await make_world(group=group, requester_role=Role.STATE_CONTACT)
    state = world.requester
    staff = world.staff_actor
    rollout = await start_group_rollout(
        staff,
        group_id=group.id,
        environment=EnvironmentKind.PRODUCTION,
        target_version="Campus.2435.4",
        now=T0,
    )
    request = await UpdateRequest.get(rollout_id=rollout.id)
    assert request.scheduled_start == IN_WINDOW - timedelta(minutes=30)  # the window's first slot
    await schedule_update_request(staff, request.id, IN_WINDOW, now=T0)
    assert await told(request.id, K.SCHEDULED) == set()  # a staff rollout, and no one asked
    await set_notify(state.id, NotifyPreference.ALL_MY_DISTRICTS)
    await schedule_update_request(staff, request.id, IN_WINDOW_NEXT_WEEK, now=T0)
    assert await told(request.id, K.SCHEDULED) == {state.email}
    assert world.staff.email not in await told(request.id, K.SCHEDULED)


async def test_whoever_holds_the_event_hears_of_its_cancellation_after_opting_out(db):
    world = await make_world()
    request = await world.request_version()
    await world.schedule(request.id)
    await set_notify(world.requester.id, NotifyPreference.NONE)
    await world.cancel(request.id)
    assert [m[0] for m in await calendar_messages(request.id, world.requester.email)] == ["REQUEST", "CANCEL"]
    # Without an event in their calendar, they are no longer told anything else.
    other = await world.request_refresh()
    await world.schedule(other.id)
    assert await Notification.filter(update_request_id=other.id).count() == 0


async def test_a_requester_whose_link_was_removed_is_not_told(db):
    world = await make_world(requester_role=Role.PARTNER)
    request = await world.request_version()
    await world.requester.districts.clear()
    await schedule_update_request(world.staff_actor, request.id, IN_WINDOW, now=T0)
    assert await told(request.id, K.SCHEDULED) == set()
