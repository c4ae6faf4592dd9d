"""Invitation, update and cancellation mails through a real SMTP server (aiosmtpd), parsed back
as a mail client would: one UID, rising SEQUENCE, the calendar part's method matching its body."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage, Message

import pytest
from icalendar import Calendar

from infra.settings import Settings
from models.enums import NotificationState, UpdateStatus
from models.notices import invitation_uid
from models.requests.staff import schedule_update_request
from models.requests.withdrawing import cancel_update_request
from models.tables import Notification
from tests import support
from tests.models.scenario import IN_WINDOW, IN_WINDOW_NEXT_WEEK, T0, make_world
from tests.workers.conftest import Mailbox, free_port
from workers.errors import MailDeliveryError
from workers.mail import deliver_notification

SENDER = "Campus Hosting <hosting@updatedesk.invalid>"


def calendar_part(message: Message) -> tuple[str | None, Calendar]:
    """The text/calendar alternative: its `method` parameter and the parsed calendar."""
    parts = [part for part in message.walk() if part.get_content_type() == "text/calendar"]
    assert len(parts) == 1, [part.get_content_type() for part in message.walk()]
    payload = parts[0].get_payload(decode=True)
    assert isinstance(payload, bytes)
    assert parts[0].get_content_charset() == "utf-8"
    method = parts[0].get_param("method")
    return (method if isinstance(method, str) else None), Calendar.from_ical(payload)


async def test_invitation_update_and_cancellation_mails(db: support.TestDatabase, mailbox: Mailbox) -> None:
    world = await make_world()
    request = await world.request_version()
    await world.schedule(request.id)
    await schedule_update_request(
        world.staff_actor, request.id, IN_WINDOW_NEXT_WEEK, now=T0 + timedelta(hours=1)
    )
    await cancel_update_request(world.requester_actor, request.id, now=T0 + timedelta(hours=2))

    settings = Settings(database_url=db.url, smtp_url=mailbox.url, mail_from=SENDER)
    rows = await Notification.filter(update_request_id=request.id, recipient=world.requester.email).order_by(
        "id"
    )
    assert len(rows) == 3
    for row in rows:
        assert await deliver_notification(row.id, settings) is NotificationState.SENT

    mails = [m for m in mailbox.received() if m["To"] == world.requester.email]
    assert [str(m["Subject"]).split(":")[0] for m in mails] == ["Scheduled", "Scheduled", "Cancelled"]
    seen = []
    for mail in mails:
        assert isinstance(mail, EmailMessage)
        method, calendar = calendar_part(mail)
        assert method == str(calendar["method"])  # the MIME parameter says what the body says
        (event,) = calendar.walk("VEVENT")
        assert str(event["organizer"]) == "mailto:hosting@updatedesk.invalid"
        assert event["organizer"].params["CN"] == "Campus Hosting"
        assert str(event["attendee"]) == f"mailto:{world.requester.email}"
        assert str(event["dtstart"].params["TZID"]) == "America/Chicago"
        assert [tz["TZID"] for tz in calendar.walk("VTIMEZONE")] == ["America/Chicago"]
        seen.append(
            (
                method,
                str(event["uid"]),
                int(str(event["sequence"])),
                event.decoded("dtstart"),
                str(event["status"]),
            )
        )
    uid = invitation_uid(request.id)
    assert seen == [
        ("REQUEST", uid, 0, IN_WINDOW, "CONFIRMED"),
        ("REQUEST", uid, 1, IN_WINDOW_NEXT_WEEK, "CONFIRMED"),
        ("CANCEL", uid, 2, IN_WINDOW_NEXT_WEEK, "CANCELLED"),
    ]


async def test_an_invitation_retried_after_its_cancellation_went_out_does_not_bring_the_event_back(
    db: support.TestDatabase, mailbox: Mailbox
) -> None:
    """The SMTP server is down for the invitation's first attempt; the request is deferred and its
    cancellation goes out meanwhile. The invitation's retry still tells its news, but without its
    calendar message: a calendar that has no event yet would add it from that older message and
    keep a phantom the cancellation, already processed, no longer removes."""
    world = await make_world()
    request = await world.request_version()
    await world.schedule(request.id)
    await world.set_status(request.id, UpdateStatus.DEFERRED, "On hold until January.")
    invitation, cancellation = await Notification.filter(
        update_request_id=request.id, recipient=world.requester.email
    ).order_by("id")

    down = Settings(database_url=db.url, smtp_url=f"smtp://127.0.0.1:{free_port()}", mail_from=SENDER)
    with pytest.raises(MailDeliveryError):
        await deliver_notification(invitation.id, down)
    up = Settings(database_url=db.url, smtp_url=mailbox.url, mail_from=SENDER)
    assert await deliver_notification(cancellation.id, up) is NotificationState.SENT
    assert await deliver_notification(invitation.id, up) is NotificationState.SENT

    cancel_mail, invitation_mail = [m for m in mailbox.received() if m["To"] == world.requester.email]
    assert calendar_part(cancel_mail)[0] == "CANCEL"
    assert str(invitation_mail["Subject"]).startswith("Scheduled: ")
    assert [part.get_content_type() for part in invitation_mail.walk()] == ["text/plain"]
