"""The outbox mailer: SMTP_URL parsing, the message it builds, and one mail's delivery states,
against a real aiosmtpd server in this process and a real database (both backends)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from infra.metrics import ALERTS
from infra.settings import Settings
from models.clock import utcnow
from models.enums import NotificationKind, NotificationState
from models.tables import Notification
from tests import support
from tests.workers.conftest import Mailbox, free_port
from workers import mail
from workers.errors import ConfigurationError, MailDeliveryError
from workers.mail import (
    MAIL_MAX_ATTEMPTS,
    SmtpTarget,
    build_message,
    deliver_notification,
    parse_smtp_url,
)
from workers.scheduler import sweep_outbox

MAIL_FROM = "Campus Hosting <hosting@updatedesk.test>"
CALENDAR = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n"
#: A refusal for now (mailbox busy, greylisting): tried again later.
REFUSAL = "450 4.2.1 mailbox unavailable, try again later"
#: A refusal for good: the mailbox does not exist.
PERMANENT_REFUSAL = "550 5.1.1 mailbox unavailable"


# --------------------------------------------------------------------------- parse_smtp_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example", SmtpTarget("mail.example", 25)),
        ("smtp://mail.example:2525", SmtpTarget("mail.example", 2525)),
        ("smtp+starttls://mail.example", SmtpTarget("mail.example", 587, start_tls=True)),
        ("smtps://mail.example", SmtpTarget("mail.example", 465, use_tls=True)),
        (
            "smtp+starttls://hosting%40example.org:p%3Ass%2Fw@mail.example:2587",
            SmtpTarget("mail.example", 2587, "hosting@example.org", "p:ss/w", start_tls=True),
        ),
        ("smtp://only-user@mail.example", SmtpTarget("mail.example", 25, "only-user", None)),
    ],
)
def test_parse_smtp_url_reads_each_form(url: str, expected: SmtpTarget) -> None:
    assert parse_smtp_url(url) == expected


@pytest.mark.parametrize(
    "url",
    ["http://mail.example", "smtp://", "mail.example:25", "smtp+ssl://mail.example", ""],
)
def test_parse_smtp_url_refuses_other_schemes_and_missing_hosts(url: str) -> None:
    with pytest.raises(ConfigurationError, match="SMTP_URL must look like"):
        parse_smtp_url(url)


# --------------------------------------------------------------------------- build_message


def _notification(calendar: str | None = None, notification_id: int = 41) -> Notification:
    return Notification(
        id=notification_id,
        kind=NotificationKind.SCHEDULED,
        recipient="pat@district.example",
        subject="Scheduled: Campus.2435.4 for District 7",
        body="Your update is scheduled.\nSee you then.",
        calendar=calendar,
    )


def test_build_message_carries_the_headers_and_a_plain_body() -> None:
    message = build_message(_notification(), MAIL_FROM)
    assert message["From"] == MAIL_FROM
    assert message["To"] == "pat@district.example"
    assert message["Subject"] == "Scheduled: Campus.2435.4 for District 7"
    message_id = str(message["Message-ID"])
    assert "notification-41" in message_id and message_id.endswith("@updatedesk>")
    assert not message.is_multipart()
    assert message.get_content_type() == "text/plain"
    assert message.get_content() == "Your update is scheduled.\nSee you then.\n"


def test_build_message_gives_each_mail_its_own_message_id() -> None:
    first = build_message(_notification(), MAIL_FROM)
    again = build_message(_notification(), MAIL_FROM)
    other = build_message(_notification(notification_id=42), MAIL_FROM)
    assert len({str(first["Message-ID"]), str(again["Message-ID"]), str(other["Message-ID"])}) == 3


def test_build_message_attaches_the_invitation_as_a_calendar_alternative() -> None:
    message = build_message(_notification(calendar=CALENDAR), MAIL_FROM)
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/calendar"]
    plain, invitation = parts
    assert plain.get_content() == "Your update is scheduled.\nSee you then.\n"
    assert invitation.get_param("method") == "REQUEST"
    assert invitation.get_content().replace("\r\n", "\n") == CALENDAR.replace("\r\n", "\n")


# --------------------------------------------------------------------------- deliver_notification


class RefusingServer:
    """An SMTP server that answers `reply` to the recipients in `refused` (all, when None),
    counting the refusals, and accepts the others."""

    def __init__(self, reply: str, refused: frozenset[str] | None = None) -> None:
        self.reply = reply
        self.refused = refused
        self.refusals = 0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.refused is not None and address not in self.refused:
            envelope.rcpt_tos.append(address)
            return "250 OK"
        with self.lock:
            self.refusals += 1
        return self.reply


@contextmanager
def smtp_server(handler: RefusingServer) -> Iterator[str]:
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}"
    finally:
        controller.stop()


@pytest.fixture
def refusing_smtp() -> Iterator[tuple[str, RefusingServer]]:
    """Refuses every recipient for now (4xx)."""
    handler = RefusingServer(REFUSAL)
    with smtp_server(handler) as url:
        yield url, handler


def _mail_alerts() -> float:
    return ALERTS.labels("mail_failed")._value.get()


def _settings(smtp_url: str | None) -> Settings:
    return Settings(smtp_url=smtp_url, mail_from=MAIL_FROM)


async def _pending(calendar: str | None = None, recipient: str = "pat@district.example") -> Notification:
    return await Notification.create(
        kind=NotificationKind.SCHEDULED,
        recipient=recipient,
        subject="Scheduled: Campus.2435.4",
        body="Your update is scheduled.",
        calendar=calendar,
    )


async def test_without_smtp_url_a_mail_is_logged_and_kept(db: support.TestDatabase) -> None:
    notification = await _pending()
    assert await deliver_notification(notification.id, _settings(None)) is NotificationState.LOGGED
    stored = await Notification.get(id=notification.id)
    assert stored.state is NotificationState.LOGGED
    assert stored.attempts == 0 and stored.sent_at is None


async def test_an_unknown_mail_is_ignored(db: support.TestDatabase, mailbox: Mailbox) -> None:
    assert await deliver_notification(987_654, _settings(mailbox.url)) is None
    assert mailbox.received() == []


async def test_a_mail_is_sent_once_even_when_delivered_twice(
    db: support.TestDatabase, mailbox: Mailbox
) -> None:
    notification = await _pending(calendar=CALENDAR)
    settings = _settings(mailbox.url)
    assert await deliver_notification(notification.id, settings) is NotificationState.SENT
    assert await deliver_notification(notification.id, settings) is NotificationState.SENT

    received = mailbox.received()
    assert len(received) == 1
    assert received[0]["To"] == "pat@district.example"
    assert received[0]["From"] == MAIL_FROM
    assert [p.get_content_type() for p in received[0].walk()][1:] == ["text/plain", "text/calendar"]
    stored = await Notification.get(id=notification.id)
    assert stored.state is NotificationState.SENT
    assert stored.attempts == 1 and stored.sent_at is not None and stored.last_error is None


async def test_a_refused_mail_is_retried_then_fails_for_good(
    db: support.TestDatabase, refusing_smtp: tuple[str, RefusingServer]
) -> None:
    url, server = refusing_smtp
    notification = await _pending()
    settings = _settings(url)
    alerts = _mail_alerts()
    for attempt in range(1, MAIL_MAX_ATTEMPTS):
        with pytest.raises(MailDeliveryError, match="mailbox unavailable"):
            await deliver_notification(notification.id, settings)
        stored = await Notification.get(id=notification.id)
        assert (stored.state, stored.attempts) == (NotificationState.PENDING, attempt)
        assert stored.last_error is not None and "mailbox unavailable" in stored.last_error

    assert await deliver_notification(notification.id, settings) is NotificationState.FAILED
    stored = await Notification.get(id=notification.id)
    assert (stored.state, stored.attempts) == (NotificationState.FAILED, MAIL_MAX_ATTEMPTS)
    assert stored.sent_at is None
    # A FAILED mail is final: a later delivery does not contact the server again.
    assert await deliver_notification(notification.id, settings) is NotificationState.FAILED
    assert server.refusals == MAIL_MAX_ATTEMPTS
    assert _mail_alerts() == alerts + 1


async def test_a_permanent_refusal_fails_the_mail_at_once(
    db: support.TestDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    """The server answers 550 for one recipient (the mailbox is gone) and takes mail for another.
    Sending again brings the same 550: the mail is FAILED on its first attempt, with the alert a
    mail that ran out of attempts gets, and the other recipient's mail still goes."""
    handler = RefusingServer(PERMANENT_REFUSAL, refused=frozenset({"gone@district.example"}))
    alerts = _mail_alerts()
    with smtp_server(handler) as url:
        settings = _settings(url)
        gone = await _pending(recipient="gone@district.example")
        assert await deliver_notification(gone.id, settings) is NotificationState.FAILED
        stored = await Notification.get(id=gone.id)
        assert (stored.state, stored.attempts, stored.sent_at) == (NotificationState.FAILED, 1, None)
        assert stored.last_error is not None and "550" in stored.last_error
        assert _mail_alerts() == alerts + 1
        assert any(
            r.levelname == "ERROR"
            and r.getMessage().startswith("alert:")
            and "gone@district.example" in r.getMessage()
            for r in caplog.records
        )
        # Final: delivered again (a redelivered job, the sweep), it does not contact the server.
        assert await deliver_notification(gone.id, settings) is NotificationState.FAILED
        assert handler.refusals == 1 and _mail_alerts() == alerts + 1

        other = await _pending()
        assert await deliver_notification(other.id, settings) is NotificationState.SENT


@pytest.mark.parametrize(
    "reply",
    ["451 4.3.0 try again later", "452 4.5.3 too many recipients", "552 5.5.3 too many recipients"],
)
async def test_a_refusal_for_now_is_still_retried(db: support.TestDatabase, reply: str) -> None:
    """A 4xx reply, and a 552 to RCPT (RFC 5321 says to treat it as temporary), may pass later."""
    with smtp_server(RefusingServer(reply)) as url:
        notification = await _pending()
        with pytest.raises(MailDeliveryError):
            await deliver_notification(notification.id, _settings(url))
    stored = await Notification.get(id=notification.id)
    assert (stored.state, stored.attempts) == (NotificationState.PENDING, 1)


async def test_an_unreachable_server_counts_as_a_failed_attempt(db: support.TestDatabase) -> None:
    notification = await _pending()
    closed_port = free_port()  # nothing listens there
    with pytest.raises(MailDeliveryError):
        await deliver_notification(notification.id, _settings(f"smtp://127.0.0.1:{closed_port}"))
    stored = await Notification.get(id=notification.id)
    assert (stored.state, stored.attempts) == (NotificationState.PENDING, 1)
    assert stored.last_error


async def test_a_success_after_a_refusal_clears_the_error(
    db: support.TestDatabase, refusing_smtp: tuple[str, RefusingServer], mailbox: Mailbox
) -> None:
    notification = await _pending()
    with pytest.raises(MailDeliveryError):
        await deliver_notification(notification.id, _settings(refusing_smtp[0]))
    assert await deliver_notification(notification.id, _settings(mailbox.url)) is NotificationState.SENT
    stored = await Notification.get(id=notification.id)
    assert (stored.attempts, stored.last_error) == (2, None)
    assert len(mailbox.received()) == 1


async def test_two_deliveries_that_read_the_same_attempt_send_once(
    db: support.TestDatabase, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    notification = await _pending()
    # Both deliveries read the row before either claims its attempt (the race the claim is for).
    both_read = asyncio.Barrier(2)
    read = Notification.get_or_none

    async def read_then_wait(*args: Any, **kwargs: Any) -> Notification | None:
        row = await read(*args, **kwargs)
        await both_read.wait()
        return row

    monkeypatch.setattr(mail.Notification, "get_or_none", read_then_wait)
    settings = _settings(mailbox.url)
    outcomes = await asyncio.gather(
        deliver_notification(notification.id, settings), deliver_notification(notification.id, settings)
    )
    assert sorted(outcomes, key=str) == [None, NotificationState.SENT]
    assert len(mailbox.received()) == 1
    assert (await Notification.get(id=notification.id)).attempts == 1


class HeldServer:
    """Accepts mail, but holds each DATA until the test lets it go (a send in flight)."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.messages = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.arrived.set()
        await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 10)
        self.messages += 1
        return "250 OK"


@pytest.fixture
def held_smtp() -> Iterator[tuple[str, HeldServer]]:
    port = free_port()
    handler = HeldServer()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", handler
    finally:
        handler.release.set()
        controller.stop()


async def test_a_delivery_arriving_while_another_sends_sends_nothing(
    db: support.TestDatabase, held_smtp: tuple[str, HeldServer]
) -> None:
    url, server = held_smtp
    notification = await _pending()
    settings = _settings(url)
    first = asyncio.create_task(deliver_notification(notification.id, settings))
    # The first delivery is talking to the server now (its DATA is held there).
    await asyncio.get_running_loop().run_in_executor(None, server.arrived.wait, 10)
    sending = await Notification.get(id=notification.id)
    assert (sending.state, sending.attempts) == (NotificationState.SENDING, 1)
    assert sending.claimed_at is not None
    # A second delivery of the same mail (a redelivered job, the outbox sweep) finds it claimed.
    assert await deliver_notification(notification.id, settings) is None
    server.release.set()
    assert await first is NotificationState.SENT
    assert server.messages == 1
    stored = await Notification.get(id=notification.id)
    assert (stored.state, stored.attempts) == (NotificationState.SENT, 1)


async def test_a_send_left_in_flight_by_a_dead_worker_is_tried_again_once_stale(
    db: support.TestDatabase, mailbox: Mailbox
) -> None:
    notification = await _pending()
    claimed = utcnow() - mail.SENDING_STALE_AFTER / 2
    await Notification.filter(id=notification.id).update(
        state=NotificationState.SENDING, attempts=1, claimed_at=claimed
    )
    settings = _settings(mailbox.url)
    # Still fresh: it may yet finish; nothing is sent twice.
    assert await deliver_notification(notification.id, settings) is None
    assert mailbox.received() == []
    await Notification.filter(id=notification.id).update(claimed_at=claimed - mail.SENDING_STALE_AFTER)
    assert await deliver_notification(notification.id, settings) is NotificationState.SENT
    assert len(mailbox.received()) == 1
    assert (await Notification.get(id=notification.id)).attempts == 2


async def test_the_outbox_sweep_enqueues_a_send_left_in_flight(db: support.TestDatabase) -> None:
    fresh, stale, never_tried = await _pending(), await _pending(), await _pending()
    now = utcnow()
    await Notification.filter(id=fresh.id).update(state=NotificationState.SENDING, attempts=1, claimed_at=now)
    await Notification.filter(id=stale.id).update(
        state=NotificationState.SENDING, attempts=1, claimed_at=now - 2 * mail.SENDING_STALE_AFTER
    )

    class Queue:
        def __init__(self) -> None:
            self.notifications: list[int] = []

        async def enqueue_notification(self, notification_id: int) -> None:
            self.notifications.append(notification_id)

    queue = Queue()
    # `never_tried` is too young to count as lost: only the stale send comes back.
    assert await sweep_outbox(queue, now) == [stale.id]  # type: ignore[arg-type]
    assert queue.notifications == [stale.id]
    assert never_tried.id not in queue.notifications
