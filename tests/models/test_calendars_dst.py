"""Invitations and feed events on the nights the clocks change (probe): the instant a calendar
reads back is the instant the work was scheduled for. RFC 5545 reads a local time that occurs
twice (the autumn night's repeated hour) as its first occurrence, so work in the second one
must not be written as that local time. Pure: no database, no clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar

from models.calendars import CalendarEntry, CalendarMethod, compose_feed, compose_invitation

ZONE = "America/Chicago"


def utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2027, month, day, hour, minute, tzinfo=UTC)


def entry(start: datetime, hours: int = 3) -> CalendarEntry:
    return CalendarEntry(
        uid="update-request-7@updatedesk",
        summary="Campus Hosting: the update of the production site",
        description="Campus Hosting has scheduled it.",
        start=start,
        end=start + timedelta(hours=hours),
        time_zone=ZONE,
        sequence=2,
        stamped_at=utc(11, 1, 12),
    )


def read_back(text: str | bytes) -> tuple[datetime, datetime]:
    (event,) = Calendar.from_ical(text).walk("VEVENT")
    return event.decoded("dtstart").astimezone(UTC), event.decoded("dtend").astimezone(UTC)


INSTANTS = [
    utc(11, 7, 6, 30),  # 01:30 CDT, the first 01:30
    utc(11, 7, 7, 30),  # 01:30 CST, the second 01:30
    utc(11, 7, 7, 0),  # 01:00 CST, the second 01:00
    utc(11, 7, 4, 30),  # Saturday 23:30 CDT: three hours later is the second 01:30 (CST)
    utc(3, 14, 7, 59),  # 01:59 CST, just before the spring gap
    utc(3, 14, 8, 0),  # 03:00 CDT, just after it
]


@pytest.mark.parametrize("start", INSTANTS)
@pytest.mark.parametrize("method", list(CalendarMethod))
def test_an_invitation_reads_back_as_the_scheduled_instant(start, method):
    assert read_back(compose_invitation(entry(start), method)) == (start, start + timedelta(hours=3))


@pytest.mark.parametrize("start", INSTANTS)
def test_a_feed_event_reads_back_as_the_scheduled_instant(start):
    assert read_back(compose_feed("Feed", [entry(start)])) == (start, start + timedelta(hours=3))


def test_an_event_ending_in_the_second_repeated_hour_ends_then():
    start = utc(11, 7, 5, 0)  # Sunday 00:00 CDT; two hours later is 01:00 CST (the second one)
    assert read_back(compose_invitation(entry(start, hours=2))) == (start, utc(11, 7, 7, 0))


def test_unambiguous_times_are_still_shown_in_the_district_zone():
    (event,) = Calendar.from_ical(compose_invitation(entry(utc(11, 7, 6, 30)))).walk("VEVENT")
    assert event["dtstart"].params["TZID"] == ZONE
    (event,) = Calendar.from_ical(compose_invitation(entry(utc(3, 14, 8, 0)))).walk("VEVENT")
    assert event["dtstart"].params["TZID"] == ZONE
