"""What the district is told by e-mail, composed as plain data (subject, body, invitation)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from icalendar import Calendar, Event

from models.enums import NotificationKind, UpdateKind
from models.windows import zone_info

#: How long a scheduled update is expected to take, for the calendar invitation.
DEFAULT_INVITATION_DURATION = timedelta(hours=3)
CALENDAR_PRODUCT_ID = "-//Updatedesk//Manage Updates//EN"


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
    sequence: int = 0  # bumps on each reschedule so calendars replace the earlier invitation


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


def invitation_uid(request_id: int) -> str:
    """Stable across reschedules, so a calendar updates the one event instead of adding another."""
    return f"update-request-{request_id}@updatedesk"


def compose_invitation(facts: RequestFacts) -> str:
    assert facts.scheduled_start is not None
    calendar = Calendar()
    calendar.add("prodid", CALENDAR_PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("method", "REQUEST")
    event = Event()
    event.add("uid", invitation_uid(facts.id))
    event.add("sequence", facts.sequence)
    event.add("summary", f"Campus Hosting: {describe_work(facts)}")
    event.add("dtstart", facts.scheduled_start)
    event.add("dtend", facts.scheduled_start + DEFAULT_INVITATION_DURATION)
    event.add("dtstamp", facts.scheduled_start)
    event.add("description", f"Campus Hosting has scheduled {describe_work(facts)}.")
    calendar.add_component(event)
    return calendar.to_ical().decode()


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
    if kind is NotificationKind.PENDING_INPUT:
        return Notice(
            kind,
            f"Input needed: {work}",
            f"Campus Hosting needs input before {work} can proceed. "
            f"Please contact Campus Hosting so that work may proceed.{reason}",
        )
    if kind is NotificationKind.DEFERRED:
        return Notice(
            kind,
            f"Deferred: {work}",
            f"{work[0].upper()}{work[1:]} is on hold until further notice.{reason}",
        )
    if kind is NotificationKind.UNABLE_TO_COMPLETE:
        return Notice(
            kind,
            f"Could not be completed: {work}",
            f"An issue prevented {work} from being completed.{reason}"
            f"Campus Hosting will tell you what is needed to resolve it.",
        )
    return Notice(kind, f"Completed: {work}", f"{work[0].upper()}{work[1:]} is complete.{reason}")
