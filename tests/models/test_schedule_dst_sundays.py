"""Window rules whose slots fall on the nights the clocks change in America/Chicago (probes).

US changes are always on a Sunday, so the seeded Thursday window never meets one; a rule on the
Sunday does. 2027: spring forward Sunday March 14 (02:00 CST -> 03:00 CDT), fall back Sunday
November 7 (02:00 CDT -> 01:00 CST). The expected duration is real time, not wall-clock time: a
window whose wall-clock length is three hours lasts two real hours on the spring night and four on
the autumn night, and its starts are judged by that. Pure: no database, no clock."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from models.enums import ErrorCode
from models.schedule import BlackoutPeriod, StartRules, conflicts_at, next_start, start_conflict
from models.schedule_words import conflict_message
from models.windows import Slot, WeeklyWindow, is_inside_windows, next_slots

ZONE = "America/Chicago"
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
SUNDAY = WeeklyWindow(7, time(0, 30), time(3, 30), ZONE)
RULES = StartRules((SUNDAY,), HOUR, time_zone=ZONE)


def utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2027, month, day, hour, minute, tzinfo=UTC)


#: 2027-03-14 00:30 CST (06:30 UTC) to 03:30 CDT (08:30 UTC): two real hours.
SPRING = Slot(utc(3, 14, 6, 30), utc(3, 14, 8, 30))
#: 2027-11-07 00:30 CDT (05:30 UTC) to 03:30 CST (09:30 UTC): four real hours.
AUTUMN = Slot(utc(11, 7, 5, 30), utc(11, 7, 9, 30))


def test_the_sunday_slots_on_both_nights_last_two_and_four_real_hours():
    assert next_slots(utc(3, 10, 12), [SUNDAY], 3) == [
        SPRING,
        Slot(utc(3, 21, 5, 30), utc(3, 21, 8, 30)),  # CDT from now on
        Slot(utc(3, 28, 5, 30), utc(3, 28, 8, 30)),
    ]
    assert next_slots(utc(11, 3, 12), [SUNDAY], 2) == [AUTUMN, Slot(utc(11, 14, 6, 30), utc(11, 14, 9, 30))]


def test_on_the_spring_night_an_hour_of_work_must_start_by_0130_cst():
    """01:45 CST is 1 h 45 min before 03:30 on the wall clock, but only 45 real minutes."""
    assert start_conflict(SPRING.end - HOUR, RULES) is None  # 01:30 CST
    late = SPRING.end - HOUR + MINUTE  # 01:31 CST
    assert start_conflict(late, RULES) is ErrorCode.WINDOW_TOO_SHORT
    assert next_start(late, RULES) == utc(3, 21, 5, 30)
    # 03:00 CDT: the first instant after the gap, still inside the window, 30 minutes left.
    assert is_inside_windows(utc(3, 14, 8, 0), [SUNDAY])
    assert start_conflict(utc(3, 14, 8, 0), RULES) is ErrorCode.WINDOW_TOO_SHORT
    message = conflict_message(conflicts_at(late, RULES)[0], late, RULES, next_start(late, RULES))
    assert "starting Sunday, March 14, 2027 at 01:31 AM CST" in message
    assert message.endswith("The next possible start is Sunday, March 21, 2027 at 12:30 AM CDT.")


@pytest.mark.parametrize(
    ("start", "local"),
    [
        (utc(11, 7, 6, 15), "01:15 CDT"),  # the first 01:15
        (utc(11, 7, 7, 15), "01:15 CST"),  # the second 01:15, an hour later in real time
        (utc(11, 7, 8, 30), "02:30 CST"),  # exactly an hour left
    ],
)
def test_on_the_autumn_night_both_repeated_hours_are_inside_and_fit(start, local):
    assert start.astimezone(SUNDAY.zone).strftime("%H:%M %Z") == local
    assert conflicts_at(start, RULES) == [] and next_start(start, RULES) == start


def test_on_the_autumn_night_the_end_is_the_one_real_0330_cst():
    assert start_conflict(utc(11, 7, 8, 31), RULES) is ErrorCode.WINDOW_TOO_SHORT
    assert start_conflict(AUTUMN.end, RULES) is ErrorCode.OUTSIDE_MAINTENANCE_WINDOW
    assert not is_inside_windows(AUTUMN.end, [SUNDAY]) and is_inside_windows(AUTUMN.end - MINUTE, [SUNDAY])


def test_a_blackout_over_the_first_repeated_hour_leaves_the_second():
    """A blackout 00:30 CDT to the second 01:00 (01:00 CST): work may start at 01:00 CST with 2.5
    real hours left; the search does not confuse the two 01:00s."""
    blackout = BlackoutPeriod(AUTUMN.start, utc(11, 7, 7, 0), 1, "Cut-over")
    judged = StartRules((SUNDAY,), HOUR, (blackout,), time_zone=ZONE)
    assert [c.code for c in conflicts_at(utc(11, 7, 6, 30), judged)] == [ErrorCode.BLACKOUT]
    assert next_start(AUTUMN.start, judged) == utc(11, 7, 7, 0)
    assert conflicts_at(utc(11, 7, 7, 0), judged) == []


@pytest.mark.parametrize("night", [SPRING, AUTUMN])
def test_no_conflict_exactly_when_the_next_start_is_that_start(night):
    """The promise of `conflicts_at` swept minute by minute over the whole changing night."""
    blackout = BlackoutPeriod(night.start + 20 * MINUTE, night.start + 40 * MINUTE, 1, "Switch work")
    judged = StartRules((SUNDAY,), HOUR, (blackout,), time_zone=ZONE)
    instant = night.start - HOUR
    fitting = 0
    while instant < night.end + HOUR:
        clear = conflicts_at(instant, judged) == []
        assert clear == (next_start(instant, judged) == instant), instant
        fitting += clear
        instant += MINUTE
    # After the blackout (20 to 40 minutes into the slot) until an hour before the slot ends:
    # spring 07:10-07:30 UTC (21 starts), autumn 06:10-08:30 UTC (141 starts).
    assert fitting == (21 if night is SPRING else 141)


def test_a_window_past_midnight_ending_inside_the_skipped_hour():
    """Saturday 23:00 to Sunday 02:30 on the spring night: 02:30 does not exist; like every wall
    time in the gap it is read with the offset before the change (RFC 5545), so the window keeps
    its 3.5 real hours and ends at 03:30 CDT."""
    night = WeeklyWindow(6, time(23, 0), time(2, 30), ZONE)
    assert night.slot_on(datetime(2027, 3, 13).date()) == Slot(utc(3, 14, 5, 0), utc(3, 14, 8, 30))
    rules = StartRules((night,), HOUR, time_zone=ZONE)
    assert start_conflict(utc(3, 14, 7, 30), rules) is None  # 02:30 CDT on the clock, 1 h left
    assert start_conflict(utc(3, 14, 7, 31), rules) is ErrorCode.WINDOW_TOO_SHORT
    # The week after, the same rule is 23:00 CDT to 02:30 CDT: 04:00 to 07:30 UTC.
    assert next_slots(utc(3, 15, 0), [night], 1) == [Slot(utc(3, 21, 4, 0), utc(3, 21, 7, 30))]


def test_a_window_wholly_inside_the_skipped_hour_gives_no_slot_that_night():
    """Sunday 02:00-03:00: on 2027-03-14 that hour never happens (both ends are 03:00 CDT). The
    next slots (what `maintenanceWindows` lists, and what the demo picks work's start from) must
    not offer an empty slot; starts go to the week after."""
    skipped = WeeklyWindow(7, time(2, 0), time(3, 0), ZONE)
    assert next_slots(utc(3, 10, 12), [skipped], 2) == [
        Slot(utc(3, 21, 7, 0), utc(3, 21, 8, 0)),
        Slot(utc(3, 28, 7, 0), utc(3, 28, 8, 0)),
    ]
    assert not is_inside_windows(utc(3, 14, 8, 0), [skipped])
    rules = StartRules((skipped,), 30 * MINUTE, time_zone=ZONE)
    assert next_start(utc(3, 14, 7, 0), rules) == utc(3, 21, 7, 0)
