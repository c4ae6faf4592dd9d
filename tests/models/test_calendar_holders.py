"""Probes of who holds a request's calendar event when people come and go between its messages
(SQLite and PostgreSQL): a contact who joins after the invitation is not sent the cancellation of
an event it never had; a holder who opted out is told of the end of the event it holds, but is not
invited again; and work that began and failed keeps its event when its retry is withdrawn."""

from __future__ import annotations

from datetime import datetime, timedelta

from icalendar import Calendar

from models.enums import NotificationKind, NotifyPreference, Role, UpdateStatus
from models.notices import invitation_uid
from models.preferences import set_notify
from models.requests.completion import complete
from models.requests.dispatch import dispatch
from models.requests.execution import begin
from models.tables import Notification, UpdateRequest
from tests.factories import make_account
from tests.models.scenario import DONE_AT, IN_WINDOW, IN_WINDOW_NEXT_WEEK, make_world

S = UpdateStatus
K = NotificationKind


async def calendar_mails(request_id: int, recipient: str) -> list[tuple[str, int, datetime]]:
    """(METHOD, SEQUENCE, DTSTART) of each calendar message mailed to `recipient`, in order."""
    found = []
    for row in await Notification.filter(
        update_request_id=request_id, recipient=recipient, calendar__isnull=False
    ).order_by("id"):
        calendar = Calendar.from_ical(row.calendar or "")
        (event,) = calendar.walk("VEVENT")
        assert str(event["uid"]) == invitation_uid(request_id)
        found.append((str(calendar["method"]), int(str(event["sequence"])), event.decoded("dtstart")))
    return found


async def kinds_mailed(request_id: int, recipient: str) -> list[K]:
    rows = await Notification.filter(update_request_id=request_id, recipient=recipient).order_by("id")
    return [row.kind for row in rows]


async def test_a_contact_who_joins_after_the_invitation_is_not_sent_its_cancellation(db):
    world = await make_world()
    cancelled = await world.request_version()
    deferred = await world.request_refresh()
    await world.schedule(cancelled.id)
    await world.schedule(deferred.id, IN_WINDOW_NEXT_WEEK)
    newcomer = await make_account(Role.TECHNICAL_CONTACT, [world.district], email="new-tc@district.example")

    await world.cancel(cancelled.id)
    await world.set_status(deferred.id, S.DEFERRED, "On hold until the new server is in.")

    # The cancellation mail exists only to take the event out of calendars: none to withdraw.
    assert await kinds_mailed(cancelled.id, newcomer.email) == []
    # The deferral is news for every technical contact, but without a cancellation of an event
    # the newcomer's calendar never had.
    assert await kinds_mailed(deferred.id, newcomer.email) == [K.DEFERRED]
    assert await calendar_mails(deferred.id, newcomer.email) == []
    # Those who were invited still get both cancellations.
    assert [m[0] for m in await calendar_mails(cancelled.id, world.requester.email)] == ["REQUEST", "CANCEL"]
    assert [m[0] for m in await calendar_mails(deferred.id, world.requester.email)] == ["REQUEST", "CANCEL"]

    # Resumed: the newcomer is invited like everyone else.
    await world.set_status(deferred.id, S.SCHEDULED)
    assert await calendar_mails(deferred.id, newcomer.email) == [("REQUEST", 2, IN_WINDOW_NEXT_WEEK)]


async def test_a_holder_who_opted_out_hears_the_events_end_but_is_not_invited_again(db):
    world = await make_world()
    request = await world.request_version()
    await world.schedule(request.id)
    await set_notify(world.requester.id, NotifyPreference.NONE)

    await world.schedule(request.id, IN_WINDOW_NEXT_WEEK)  # the event they hold moves
    await world.set_status(request.id, S.DEFERRED, "On hold until January.")  # and is withdrawn
    await world.set_status(request.id, S.SCHEDULED)  # resumed: a new event, which they declined

    assert await calendar_mails(request.id, world.requester.email) == [
        ("REQUEST", 0, IN_WINDOW),
        ("REQUEST", 1, IN_WINDOW_NEXT_WEEK),
        ("CANCEL", 2, IN_WINDOW_NEXT_WEEK),
    ]


async def test_withdrawing_the_retry_of_work_that_began_and_failed_keeps_the_event_that_took_place(db):
    world = await make_world()
    cancelled = await world.request_version()
    await world.drive(cancelled.id, S.UNABLE_TO_COMPLETE)
    await world.set_status(cancelled.id, S.TO_BE_SCHEDULED)  # staff: try again
    await world.cancel(cancelled.id)
    # The failed run took place: its event stays, and no mail says it "will not take place" then.
    assert [m[0] for m in await calendar_mails(cancelled.id, world.requester.email)] == ["REQUEST"]
    assert K.CANCELLED not in await kinds_mailed(cancelled.id, world.requester.email)

    deferred = await world.request_refresh()
    await world.drive(deferred.id, S.UNABLE_TO_COMPLETE)
    await world.set_status(deferred.id, S.TO_BE_SCHEDULED)
    await world.set_status(deferred.id, S.DEFERRED, "On hold until January.")
    assert [m[0] for m in await calendar_mails(deferred.id, world.requester.email)] == ["REQUEST"]
    [notice] = await Notification.filter(
        update_request_id=deferred.id, recipient=world.requester.email, kind=K.DEFERRED
    )
    assert "On hold until January." in notice.body

    # Scheduled again, the request's one event moves to its new start.
    await world.set_status(deferred.id, S.SCHEDULED, None)
    [*_, latest] = await calendar_mails(deferred.id, world.requester.email)
    assert latest[:2] == ("REQUEST", 1)


async def test_the_automatic_sandbox_updates_events_end_when_superseded_then_cancelled(db):
    """Production is updated twice: each automatic sandbox update invites the district, the newer
    one's supersession cancels the older event, and staff cancelling the newer one cancel its
    event too (the older one, returned to be scheduled, has none to send): no event is left."""
    world = await make_world()
    first = await world.request_version("Campus.2435.4")
    await world.drive(first.id, S.COMPLETED)
    older = await UpdateRequest.get(district_id=world.district.id, automatic=True)
    assert older.status is S.SCHEDULED
    second = await world.request_version("Campus.2435.9")
    await world.schedule(second.id, DONE_AT + timedelta(minutes=10))
    assert await dispatch(second.id, now=DONE_AT + timedelta(minutes=10))
    assert await begin(second.id, now=DONE_AT + timedelta(minutes=11)) is not None
    await complete(second.id, now=DONE_AT + timedelta(minutes=20))
    newer = await UpdateRequest.get(
        district_id=world.district.id, automatic=True, target_version="Campus.2435.9"
    )
    await world.cancel(newer.id, actor=world.staff_actor)

    tc = world.requester.email  # a technical contact: told of all the district's work
    assert [m[:2] for m in await calendar_mails(older.id, tc)] == [("REQUEST", 0), ("CANCEL", 1)]
    assert [m[:2] for m in await calendar_mails(newer.id, tc)] == [("REQUEST", 0), ("CANCEL", 1)]
    assert (await UpdateRequest.get(id=older.id)).status is S.TO_BE_SCHEDULED
