"""E-mail from the outbox: each `Notification` row is sent once to SMTP_URL, or logged without it.

SMTP_URL forms: ``smtp://[user:pass@]host[:port]`` (plain), ``smtp+starttls://...`` (STARTTLS
required), ``smtps://...`` (TLS from the start). A mail with a calendar message carries it as
``text/calendar; method=REQUEST`` (an invitation or its update) or ``method=CANCEL``, addressed
from the sender to the recipient so that mail clients apply it to the calendar; left out when a
later calendar message about the same request already went to that recipient.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from email.errors import MessageError
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import unquote, urlsplit

import aiosmtplib
from tortoise.expressions import Q

from infra.metrics import ALERTS
from infra.settings import Settings
from models.calendars import addressed, method_of
from models.clock import utcnow
from models.enums import NotificationState
from models.tables import Notification
from models.text import check_address
from workers.errors import ConfigurationError, MailDeliveryError

logger = logging.getLogger(__name__)

#: Sending attempts per mail before it is marked FAILED (one, when the server refuses it for good).
MAIL_MAX_ATTEMPTS = 5
SMTP_TIMEOUT_SECONDS = 30.0
#: A send still SENDING this long after its claim is taken for dead (its worker stopped mid-send).
SENDING_STALE_AFTER = timedelta(seconds=SMTP_TIMEOUT_SECONDS * 2)
#: The longest dramatiq waits before retrying a mail job.
MAIL_MAX_BACKOFF = timedelta(minutes=5)
#: A mail tried before, PENDING again and not tried for this long has lost its job: a job's
#: retries count every fault (the database's too) while the mail counts only its SMTP attempts,
#: so a job can run out with attempts left. The longest backoff twice over, and a send's time.
RETRY_LOST_AFTER = 2 * MAIL_MAX_BACKOFF + SENDING_STALE_AFTER
DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
FINAL_STATES = frozenset({NotificationState.SENT, NotificationState.LOGGED, NotificationState.FAILED})


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    use_tls: bool = False
    start_tls: bool = False


def parse_smtp_url(url: str) -> SmtpTarget:
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ConfigurationError(
            f"SMTP_URL must look like smtp://host:port, smtp+starttls://... or smtps://...; got {parts.scheme}://"
        )
    return SmtpTarget(
        host=parts.hostname,
        port=parts.port or DEFAULT_PORTS[parts.scheme],
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        use_tls=parts.scheme == "smtps",
        start_tls=parts.scheme == "smtp+starttls",
    )


def build_message(notification: Notification, mail_from: str, *, with_calendar: bool = True) -> EmailMessage:
    """The mail of one outbox row (its calendar message left out unless `with_calendar`);
    ValueError when it cannot be one (the recipient is not one address, a header holds a line
    break)."""
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = check_address(notification.recipient)  # one recipient, never a list
    message["Subject"] = notification.subject
    message["Message-ID"] = make_msgid(idstring=f"notification-{notification.id}", domain="updatedesk")
    message.set_content(notification.body)
    if notification.calendar and with_calendar:
        calendar = addressed(notification.calendar, mail_from, notification.recipient)
        method = method_of(calendar).value
        message.add_alternative(calendar, subtype="calendar", params={"method": method})
    return message


async def send_message(target: SmtpTarget, message: EmailMessage) -> None:
    await aiosmtplib.send(
        message,
        hostname=target.host,
        port=target.port,
        username=target.username,
        password=target.password,
        use_tls=target.use_tls,
        start_tls=target.start_tls,
        timeout=SMTP_TIMEOUT_SECONDS,
    )


def is_permanent_refusal(error: Exception) -> bool:
    """Whether the SMTP server refused this mail itself for good: a 5xx reply to its recipient
    (550 mailbox unavailable, 553 bad address...) or to its content (DATA). Sending it again
    brings the same answer, so it is not retried. A 5xx to the login, the sender or the greeting
    says the service's own mail settings are wrong, not this mail: like 4xx replies and
    connection errors, that is retried, so the mails survive until the settings are fixed."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        return bool(error.recipients) and all(_recipient_gone(each) for each in error.recipients)
    if isinstance(error, aiosmtplib.SMTPRecipientRefused):
        return _recipient_gone(error)
    if isinstance(error, aiosmtplib.SMTPDataError):
        return 500 <= error.code < 600
    return False


def _recipient_gone(refusal: aiosmtplib.SMTPRecipientRefused) -> bool:
    # RFC 5321 4.5.3.1.10: a 552 to RCPT (too many recipients) is to be taken as temporary.
    return 500 <= refusal.code < 600 and refusal.code != 552


async def deliver_notification(notification_id: int, settings: Settings) -> NotificationState | None:
    """Send one outbox mail. Idempotent: a mail already SENT, LOGGED or FAILED is left alone.

    Raises MailDeliveryError when the attempt failed and attempts remain (the job is retried). A
    permanent refusal (`is_permanent_refusal`) or the last attempt's failure marks the mail FAILED
    with an alert (logged at ERROR, counted in `updatedesk_alerts_total{kind="mail_failed"}`).
    """
    notification = await Notification.get_or_none(id=notification_id)
    if notification is None:
        return None
    if notification.state in FINAL_STATES:
        return notification.state
    try:
        message = build_message(notification, settings.mail_from)
    except (ValueError, TypeError, MessageError) as error:
        # Retrying cannot help (a line break in a header, a bad address): fail it for good, loudly.
        return await _unbuildable(notification, error)
    if not settings.smtp_url:
        await Notification.filter(id=notification_id, state=NotificationState.PENDING).update(
            state=NotificationState.LOGGED
        )
        logger.info(
            "mail (no SMTP_URL, kept in the outbox) to=%s subject=%s",
            notification.recipient,
            notification.subject,
        )
        return NotificationState.LOGGED
    # Claim this attempt: of two deliveries of one mail, one sends. The claim holds while the send
    # is in flight (SENDING), so a second delivery arriving meanwhile sends nothing; a claim left by
    # a worker that died mid-send goes stale and the mail is tried again (at least once).
    attempt = notification.attempts + 1
    now = utcnow()
    claimed = await Notification.filter(
        Q(state=NotificationState.PENDING)
        | Q(state=NotificationState.SENDING, claimed_at__lt=now - SENDING_STALE_AFTER),
        id=notification_id,
        attempts=notification.attempts,
    ).update(attempts=attempt, state=NotificationState.SENDING, claimed_at=now)
    if claimed != 1:
        return None
    if await _calendar_overtaken(notification):
        message = build_message(notification, settings.mail_from, with_calendar=False)
    try:
        await send_message(parse_smtp_url(settings.smtp_url), message)
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
        permanent = is_permanent_refusal(error)
        final = permanent or attempt >= MAIL_MAX_ATTEMPTS
        await Notification.filter(id=notification_id).update(
            last_error=str(error)[:1000],
            state=NotificationState.FAILED if final else NotificationState.PENDING,
        )
        if final:
            why = "refused for good by the SMTP server" if permanent else f"failed {attempt} attempts"
            ALERTS.labels("mail_failed").inc()
            logger.error(
                "alert: mail %s (%s of request %s) to %s %s and will not be sent: %s",
                notification_id,
                notification.kind.value,
                notification.update_request_id,
                notification.recipient,
                why,
                error,
            )
            return NotificationState.FAILED
        raise MailDeliveryError(f"mail {notification_id}: {error}") from error
    await Notification.filter(id=notification_id).update(
        state=NotificationState.SENT, sent_at=utcnow(), last_error=None
    )
    return NotificationState.SENT


async def _calendar_overtaken(notification: Notification) -> bool:
    """Whether a later calendar message about the same request to the same recipient has gone out
    (or is going out) before this one, which was held up by failed attempts. Sent now, this older
    one would undo it in the recipient's calendar: an invitation re-adding an event already
    cancelled, a cancellation removing the event an update re-sent. Its mail still goes, without
    the calendar message."""
    if not notification.calendar or notification.update_request_id is None:
        return False
    return await Notification.filter(
        update_request_id=notification.update_request_id,
        recipient=notification.recipient,
        id__gt=notification.id,
        calendar__isnull=False,
        state__in=[NotificationState.SENDING, NotificationState.SENT],
    ).exists()


async def _unbuildable(notification: Notification, error: Exception) -> NotificationState:
    await Notification.filter(id=notification.id, state=NotificationState.PENDING).update(
        state=NotificationState.FAILED, last_error=f"could not build the mail: {error}"[:1000]
    )
    ALERTS.labels("mail_unbuildable").inc()
    logger.error(
        "alert: mail %s (%s of request %s) could not be built and will not be sent: %s",
        notification.id,
        notification.kind.value,
        notification.update_request_id,
        error,
    )
    return NotificationState.FAILED
