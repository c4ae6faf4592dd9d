"""E-mail notifications: what the district is told, to whom, and the iCalendar invitation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar

from models.calendars import CalendarMethod, InvitationMessage
from models.enums import EnvironmentKind, NotificationKind, NotificationState, Role, UpdateKind, UpdateStatus
from models.notices import RequestFacts, compose_invitation, compose_notice, invitation_uid
from models.requests.completion import complete, fail
from models.tables import Account, Notification
from tests.factories import actor_of, make_account, make_district
from tests.models.scenario import DONE_AT, IN_WINDOW, IN_WINDOW_NEXT_WEEK, World, make_world

S = UpdateStatus
K = NotificationKind
#: When the invitation of these facts was made (DTSTAMP), days before the work.
MADE_AT = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
INVITED = InvitationMessage(CalendarMethod.REQUEST, 0, MADE_AT)


def facts(**overrides) -> RequestFacts:
    values = {
        "id": 17,
        "kind": UpdateKind.VERSION_UPDATE,
        "district_name": "Lakeside Public Schools",
        "environment_kind": "PRODUCTION",
        "target_version": "Campus.2435.4",
        "scheduled_start": datetime(2026, 11, 5, 7, 0, tzinfo=UTC),
        "time_zone": "America/Chicago",
        "message": None,
        "invitation": INVITED,
    }
    values.update(overrides)
    return RequestFacts(**values)  # type: ignore[arg-type]


def event_of(calendar_text: str):
    calendar = Calendar.from_ical(calendar_text)
    events = calendar.walk("VEVENT")
    assert len(events) == 1
    return calendar, events[0]


# --------------------------------------------------------------------- composing


def test_scheduled_notice_names_the_local_date_and_carries_an_invitation():
    notice = compose_notice(K.SCHEDULED, facts())
    assert notice.kind is K.SCHEDULED
    assert "Thursday, November 05, 2026 at 01:00 AM CST" in notice.subject
    assert "Campus.2435.4" in notice.body and "Lakeside Public Schools" in notice.body
    assert "17" not in notice.body and "Request number" not in notice.body  # no database numbers
    assert notice.calendar is not None
    calendar, event = event_of(notice.calendar)
    assert str(calendar["method"]) == "REQUEST"
    assert str(event["uid"]) == invitation_uid(17) == "update-request-17@updatedesk"
    assert event.decoded("dtstart") == datetime(2026, 11, 5, 7, 0, tzinfo=UTC)
    assert event.decoded("dtend") - event.decoded("dtstart") == timedelta(hours=3)
    assert int(event["sequence"]) == 0
    assert event.decoded("dtstamp") == MADE_AT  # when the invitation was made, not the start


def test_scheduled_notice_in_a_cdt_week_says_cdt():
    notice = compose_notice(K.SCHEDULED, facts(scheduled_start=datetime(2026, 3, 12, 6, 0, tzinfo=UTC)))
    assert "Thursday, March 12, 2026 at 01:00 AM CDT" in notice.subject


def test_invitation_uid_is_stable_and_sequence_bumps():
    update = InvitationMessage(CalendarMethod.REQUEST, 1, MADE_AT + timedelta(days=1))
    first = event_of(compose_invitation(facts()) or "")[1]
    moved = event_of(compose_invitation(facts(invitation=update, scheduled_start=IN_WINDOW_NEXT_WEEK)) or "")[
        1
    ]
    assert str(first["uid"]) == str(moved["uid"])
    assert (int(first["sequence"]), int(moved["sequence"])) == (0, 1)
    assert moved.decoded("dtstart") == IN_WINDOW_NEXT_WEEK


@pytest.mark.parametrize(
    ("kind", "subject_start"),
    [
        (K.PENDING_INPUT, "Input needed: "),
        (K.DEFERRED, "Deferred: "),
        (K.UNABLE_TO_COMPLETE, "Could not be completed: "),
        (K.COMPLETED, "Completed: "),
    ],
)
def test_other_notices_carry_the_message_and_no_invitation(kind, subject_start):
    notice = compose_notice(kind, facts(message="The database copy failed at 40%.", invitation=None))
    assert notice.subject.startswith(subject_start)
    assert "The database copy failed at 40%." in notice.body
    assert notice.calendar is None


def test_refresh_notices_talk_about_a_refresh():
    notice = compose_notice(
        K.COMPLETED, facts(kind=UpdateKind.DATABASE_REFRESH, environment_kind="SANDBOX", target_version=None)
    )
    assert "refresh of the sandbox site" in notice.subject
    assert "None" not in notice.body


# --------------------------------------------------------------------- the outbox


async def recipients(request_id: int, kind: K) -> list[str]:
    rows = await Notification.filter(update_request_id=request_id, kind=kind).order_by("recipient")
    return [row.recipient for row in rows]


async def contacts(world: World) -> list[str]:
    """The requester plus a second technical contact of the district; others must not be told."""
    colleague = await make_account(
        Role.TECHNICAL_CONTACT, [world.district], email="colleague@lakeside.example"
    )
    await make_account(Role.TECHNICAL_CONTACT, [await make_district()], email="elsewhere@other.example")
    await make_account(Role.TECHNICAL_CONTACT, [world.district], email="gone@lakeside.example")
    await Account.filter(email="gone@lakeside.example").update(active=False)
    return sorted([world.requester.email, colleague.email])


async def test_scheduling_mails_the_requester_and_technical_contacts(db):
    world = await make_world(requester_role=Role.STATE_CONTACT)
    expected = await contacts(world)
    request = await world.request_version()
    assert await Notification.all().count() == 0  # a new request sends nothing
    await world.schedule(request.id)
    assert await recipients(request.id, K.SCHEDULED) == expected
    assert world.viewer.email not in expected and world.staff.email not in expected
    row = await Notification.filter(update_request_id=request.id).first()
    assert row is not None and row.state is NotificationState.PENDING and row.attempts == 0
    assert row.calendar is not None
    _, event = event_of(row.calendar)
    assert str(event["uid"]) == f"update-request-{request.id}@updatedesk"
    assert event.decoded("dtstart") == IN_WINDOW


async def test_a_reschedule_sends_the_same_invitation_uid_with_a_higher_sequence(db):
    world = await make_world()
    request = await world.request_version()
    await world.schedule(request.id)
    await world.schedule(request.id, IN_WINDOW_NEXT_WEEK)
    rows = await Notification.filter(update_request_id=request.id, kind=K.SCHEDULED).order_by("id")
    assert len(rows) == 2
    events = [event_of(row.calendar or "")[1] for row in rows]
    assert {str(e["uid"]) for e in events} == {f"update-request-{request.id}@updatedesk"}
    assert [int(e["sequence"]) for e in events] == [0, 1]
    assert [e.decoded("dtstart") for e in events] == [IN_WINDOW, IN_WINDOW_NEXT_WEEK]


@pytest.mark.parametrize(("status", "kind"), [(S.PENDING_INPUT, K.PENDING_INPUT), (S.DEFERRED, K.DEFERRED)])
async def test_pausing_mails_the_message(db, status, kind):
    world = await make_world()
    expected = await contacts(world)
    request = await world.request_version()
    await world.set_status(request.id, status, "Please confirm the new gradebook settings.")
    assert await recipients(request.id, kind) == expected
    bodies = await Notification.filter(update_request_id=request.id, kind=kind).values_list("body", flat=True)
    assert all("Please confirm the new gradebook settings." in str(body) for body in bodies)
    assert all(row.calendar is None for row in await Notification.filter(update_request_id=request.id))


async def test_failure_mails_the_reason(db):
    world = await make_world()
    expected = await contacts(world)
    request = await world.request_version()
    await world.drive(request.id, S.IN_PROGRESS)
    await fail(request.id, "The upgrade script stopped: disk full.", now=DONE_AT)
    assert await recipients(request.id, K.UNABLE_TO_COMPLETE) == expected
    row = await Notification.filter(update_request_id=request.id, kind=K.UNABLE_TO_COMPLETE).first()
    assert row is not None and "The upgrade script stopped: disk full." in row.body


async def test_staff_giving_up_mails_their_reason(db):
    world = await make_world()
    request = await world.request_version()
    await world.drive(request.id, S.NOT_STARTED)
    await world.set_status(request.id, S.UNABLE_TO_COMPLETE, "Your site needs a license renewal first.")
    row = await Notification.get(update_request_id=request.id, kind=K.UNABLE_TO_COMPLETE)
    assert "Your site needs a license renewal first." in row.body
    assert row.recipient == world.requester.email


async def test_completion_mails_and_the_superseded_requester_hears_too(db):
    world = await make_world()
    expected = await contacts(world)
    older = await world.request_version("Campus.2435.3")
    someone = await make_account(Role.PARTNER, [world.district], email="partner@vendor.example")
    newer = await world.request_version("Campus.2435.4", actor=await actor_of(someone))
    await world.drive(newer.id, S.COMPLETED)
    assert await recipients(newer.id, K.COMPLETED) == sorted([*expected, "partner@vendor.example"])
    assert await recipients(older.id, K.COMPLETED) == expected


async def test_cancel_and_dispatch_send_no_mail(db):
    world = await make_world()
    await contacts(world)
    request = await world.request_version()
    await world.cancel(request.id)
    assert await Notification.all().count() == 0
    refresh = await world.request_refresh(EnvironmentKind.STAGING)
    await world.drive(refresh.id, S.IN_PROGRESS)
    assert await Notification.filter(update_request_id=refresh.id).exclude(kind=K.SCHEDULED).count() == 0
    await complete(refresh.id, now=DONE_AT)
    assert await Notification.filter(update_request_id=refresh.id, kind=K.COMPLETED).count() == 2
