"""iCalendar for people's calendars, built with the `icalendar` library: the invitation a mail
carries (and its updates and cancellations), and the private feed of an account.

One request is one calendar event for its whole life: its UID never changes, and each calendar
message about it carries a higher SEQUENCE, so a calendar replaces the event (a reschedule) or
removes it (a cancellation) instead of keeping a phantom maintenance.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from enum import StrEnum
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vCalAddress

from models.enums import UpdateStatus
from models.windows import zone_info

CALENDAR_PRODUCT_ID = "-//Updatedesk//Manage Updates//EN"
#: How long scheduled work is shown in calendars.
DEFAULT_EVENT_DURATION = timedelta(hours=3)
#: How often a subscribed calendar should fetch the feed again (clients treat it as a hint).
FEED_REFRESH = timedelta(hours=1)

#: Moves that withdraw a live invitation: the work will not happen at that time.
WITHDRAWING_STATUSES = frozenset(
    {
        UpdateStatus.CANCELLED,
        UpdateStatus.NEW_VERSION_REQUESTED,
        UpdateStatus.PENDING_INPUT,
        UpdateStatus.DEFERRED,
    }
)


class CalendarMethod(StrEnum):
    REQUEST = "REQUEST"  # a new or changed invitation
    CANCEL = "CANCEL"  # the invitation is withdrawn


@dataclass(frozen=True)
class InvitationMessage:
    """One calendar message about a request: what it says, its SEQUENCE, and when it was made."""

    method: CalendarMethod
    sequence: int
    stamped_at: datetime


def invitation_uid(request_id: int) -> str:
    """Stable for the life of a request, so calendars update the one event instead of adding one."""
    return f"update-request-{request_id}@updatedesk"


def blackout_uid(blackout_id: int) -> str:
    return f"blackout-{blackout_id}@updatedesk"


def invitation_messages(history: Iterable[tuple[UpdateStatus, datetime]]) -> list[InvitationMessage | None]:
    """For each move of a request's history (status moved to, when), in order: the calendar
    message that move sends, or None. Every move to SCHEDULED sends an invitation (the first, or
    an update); a move that withdraws a live invitation sends its cancellation. Giving up work that
    never began since it was invited withdraws it too (the maintenance will not take place); work
    that began keeps its event, as completed work does, also when its retry is withdrawn later."""
    messages: list[InvitationMessage | None] = []
    sequence = -1
    live = began = False
    for status, at in history:
        given_up_unbegun = status is UpdateStatus.UNABLE_TO_COMPLETE and not began
        withdraws = status in WITHDRAWING_STATUSES or given_up_unbegun
        if status is UpdateStatus.SCHEDULED:
            sequence, live, began = sequence + 1, True, False
            messages.append(InvitationMessage(CalendarMethod.REQUEST, sequence, at))
        elif live and withdraws:
            sequence, live = sequence + 1, False
            messages.append(InvitationMessage(CalendarMethod.CANCEL, sequence, at))
        elif began and status is UpdateStatus.UNABLE_TO_COMPLETE:
            # The failed run took place: its event is history now, which nothing later withdraws
            # (a retry that is cancelled or deferred never had an event of its own).
            live = False
            messages.append(None)
        else:
            began = began or status is UpdateStatus.IN_PROGRESS
            messages.append(None)
    return messages


def latest_invitation(history: Iterable[tuple[UpdateStatus, datetime]]) -> InvitationMessage | None:
    """The last calendar message a request's history sent, if any."""
    sent = [message for message in invitation_messages(history) if message is not None]
    return sent[-1] if sent else None


@dataclass(frozen=True)
class CalendarEntry:
    """One event as calendars show it."""

    uid: str
    summary: str
    description: str
    start: datetime
    end: datetime
    time_zone: str  # shown in this zone (TZID), the same instant either way
    sequence: int
    stamped_at: datetime  # DTSTAMP: when this version of the event was made


def calendar_time(instant: datetime, zone: ZoneInfo) -> datetime:
    """How an instant is written in an event: local time in `zone` (TZID), unless that local time
    occurs twice (the autumn night's repeated hour) and the instant is not its first occurrence.
    RFC 5545 reads a repeated local time as its first occurrence, so such an instant is written in
    UTC, or calendars would show the work an hour early."""
    local = instant.astimezone(zone)
    if local.replace(fold=0).astimezone(UTC) != instant.astimezone(UTC):
        return instant.astimezone(UTC)
    return local


def _event(entry: CalendarEntry, *, cancelled: bool = False) -> Event:
    zone = zone_info(entry.time_zone)
    event = Event()
    event.add("uid", entry.uid)
    event.add("sequence", entry.sequence)
    event.add("dtstamp", entry.stamped_at)
    event.add("dtstart", calendar_time(entry.start, zone))
    event.add("dtend", calendar_time(entry.end, zone))
    event.add("summary", entry.summary)
    event.add("description", entry.description)
    event.add("transp", "OPAQUE")
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    return event


def _calendar(method: CalendarMethod | None = None, name: str | None = None) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", CALENDAR_PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    if method is not None:
        calendar.add("method", method.value)
    if name is not None:
        calendar.add("x-wr-calname", name)
        calendar.add("refresh-interval", FEED_REFRESH, parameters={"VALUE": "DURATION"})
        calendar.add("x-published-ttl", FEED_REFRESH)
    return calendar


def compose_invitation(entry: CalendarEntry, method: CalendarMethod = CalendarMethod.REQUEST) -> str:
    """The iTIP message a mail carries: an invitation (or its update), or its cancellation."""
    calendar = _calendar(method)
    calendar.add_component(_event(entry, cancelled=method is CalendarMethod.CANCEL))
    calendar.add_missing_timezones()
    return calendar.to_ical().decode()


def compose_feed(name: str, entries: Sequence[CalendarEntry]) -> bytes:
    """A subscribable calendar (no METHOD) with these events, in the order given."""
    calendar = _calendar(name=name)
    for entry in entries:
        calendar.add_component(_event(entry))
    calendar.add_missing_timezones()
    return calendar.to_ical()


def method_of(calendar_text: str) -> CalendarMethod:
    """The METHOD of an iTIP message (REQUEST when it names none)."""
    value = str(Calendar.from_ical(calendar_text).get("method", CalendarMethod.REQUEST.value))
    return CalendarMethod(value.upper())


def addressed(calendar_text: str, organizer: str, attendee: str) -> str:
    """The message with its ORGANIZER (the sender) and the ATTENDEE it is mailed to, which mail
    clients need to treat it as an invitation or cancellation rather than a plain attachment."""
    calendar = Calendar.from_ical(calendar_text)
    organizer_name, organizer_email = parseaddr(organizer)
    for event in calendar.walk("VEVENT"):
        boss = vCalAddress(f"mailto:{organizer_email}")
        if organizer_name:
            boss.params["CN"] = organizer_name
        event["organizer"] = boss
        guest = vCalAddress(f"mailto:{parseaddr(attendee)[1]}")
        guest.params.update({"ROLE": "REQ-PARTICIPANT", "RSVP": "FALSE"})
        event["attendee"] = guest
    return str(calendar.to_ical().decode())
