"""What the district is told by e-mail, composed as plain data (subject, body, and the calendar
message: an invitation, its update, or its cancellation)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from models.calendars import (
    DEFAULT_EVENT_DURATION,
    CalendarEntry,
    InvitationMessage,
    invitation_uid,
)
from models.calendars import compose_invitation as compose_calendar_message
from models.enums import NotificationKind, UpdateKind
from models.windows import zone_info

#: How long a scheduled update is expected to take, for the calendar invitation.
DEFAULT_INVITATION_DURATION: timedelta = DEFAULT_EVENT_DURATION

__all__ = ["Notice", "RequestFacts", "compose_invitation", "compose_notice", "invitation_uid"]


@dataclass(frozen=True)
class RequestFacts:
    """The parts of a request a notice talks about."""

    id: int
    kind: UpdateKind
    district_name: str
    environment_kind: str
    target_version: str | None
    scheduled_start: datetime | None
    time_zone: str
    message: str | None
    #: The calendar message this notice carries (invitation, update or cancellation), if any.
    invitation: InvitationMessage | None = None


@dataclass(frozen=True)
class Notice:
    kind: NotificationKind
    subject: str
    body: str
    calendar: str | None = None


def describe_work(facts: RequestFacts) -> str:
    site = facts.environment_kind.lower()
    if facts.kind is UpdateKind.VERSION_UPDATE:
        return f"the update of the {site} site of {facts.district_name} to {facts.target_version}"
    return f"the refresh of the {site} site of {facts.district_name} with production data"


def local_time_text(instant: datetime, time_zone: str) -> str:
    local = instant.astimezone(zone_info(time_zone))
    return f"{local:%A, %B %d, %Y at %I:%M %p} {local.tzname()}"


def calendar_entry(facts: RequestFacts, sequence: int, stamped_at: datetime) -> CalendarEntry:
    """The request as one calendar event (the same words in mails and in the feed)."""
    assert facts.scheduled_start is not None
    return CalendarEntry(
        uid=invitation_uid(facts.id),
        summary=f"Campus Hosting: {describe_work(facts)}",
        description=f"Campus Hosting has scheduled {describe_work(facts)}.",
        start=facts.scheduled_start,
        end=facts.scheduled_start + DEFAULT_INVITATION_DURATION,
        time_zone=facts.time_zone,
        sequence=sequence,
        stamped_at=stamped_at,
    )


def compose_invitation(facts: RequestFacts) -> str | None:
    """The calendar message of `facts.invitation`; None when the notice carries none."""
    message = facts.invitation
    if message is None or facts.scheduled_start is None:
        return None
    return compose_calendar_message(
        calendar_entry(facts, message.sequence, message.stamped_at), message.method
    )


def compose_notice(kind: NotificationKind, facts: RequestFacts) -> Notice:
    work = describe_work(facts)
    reason = f"\n\nMessage from Campus Hosting:\n{facts.message}\n" if facts.message else "\n"
    if kind is NotificationKind.SCHEDULED:
        assert facts.scheduled_start is not None
        when = local_time_text(facts.scheduled_start, facts.time_zone)
        return Notice(
            kind,
            f"Scheduled: {work} on {when}",
            f"Campus Hosting has scheduled {work} for {when}.{reason}",
            compose_invitation(facts),
        )
    if kind in (NotificationKind.CANCELLED, NotificationKind.SUPERSEDED):
        when = local_time_text(facts.scheduled_start, facts.time_zone) if facts.scheduled_start else "later"
        why = "was cancelled" if kind is NotificationKind.CANCELLED else "was replaced by a newer request"
        return Notice(
            kind,
            f"Cancelled: {work} on {when}",
            f"{work[0].upper()}{work[1:]} will not take place on {when}: it {why}.{reason}",
            compose_invitation(facts),
        )
    if kind is NotificationKind.PENDING_INPUT:
        return Notice(
            kind,
            f"Input needed: {work}",
            f"Campus Hosting needs input before {work} can proceed. "
            f"Please contact Campus Hosting so that work may proceed.{reason}",
            compose_invitation(facts),
        )
    if kind is NotificationKind.DEFERRED:
        return Notice(
            kind,
            f"Deferred: {work}",
            f"{work[0].upper()}{work[1:]} is on hold until further notice.{reason}",
            compose_invitation(facts),
        )
    if kind is NotificationKind.UNABLE_TO_COMPLETE:
        calendar = compose_invitation(facts)
        withdrawn = ""
        if calendar is not None and facts.scheduled_start is not None:
            when = local_time_text(facts.scheduled_start, facts.time_zone)
            withdrawn = (
                f" It will not take place on {when}; the attached cancellation removes it from calendars."
            )
        return Notice(
            kind,
            f"Could not be completed: {work}",
            f"An issue prevented {work} from being completed.{withdrawn}{reason}"
            f"Campus Hosting will tell you what is needed to resolve it.",
            calendar,
        )
    return Notice(kind, f"Completed: {work}", f"{work[0].upper()}{work[1:]} is complete.{reason}")
