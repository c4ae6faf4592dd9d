"""Blackouts and busy slots in the one start rule (models/schedule.py): every conflict at once,
typed; the next start with none, searching through windows, blackouts and busy slots, across
daylight-saving changes; the words staff and districts read. Pure: no database, no clock."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from models.enums import EnvironmentKind, ErrorCode, UpdateKind
from models.schedule import (
    BlackoutPeriod,
    BusySlot,
    Conflict,
    StartRules,
    conflicts_at,
    next_start,
    refusable,
    shares_site,
    start_conflict,
)
from models.schedule_words import conflict_message, reslot_message
from models.windows import WeeklyWindow

THURSDAY = WeeklyWindow(4, time(0, 30), time(3, 30), "America/Chicago")
HOUR = timedelta(hours=1)
ZONE = "America/Chicago"
#: Thursday 2026-03-05 00:30 CST (the window opens at 06:30 UTC); clocks spring forward on Sunday
#: 2026-03-08, so the next Thursday's window opens at 05:30 UTC (00:30 CDT).
MARCH_5 = datetime(2026, 3, 5, 6, 30, tzinfo=UTC)
MARCH_12 = datetime(2026, 3, 12, 5, 30, tzinfo=UTC)
MARCH_19 = datetime(2026, 3, 19, 5, 30, tzinfo=UTC)
#: Thursday 2026-10-29 00:30 CDT; clocks fall back on Sunday 2026-11-01: 2026-11-05 00:30 CST.
OCTOBER_29 = datetime(2026, 10, 29, 5, 30, tzinfo=UTC)
NOVEMBER_5 = datetime(2026, 11, 5, 6, 30, tzinfo=UTC)


def blackout(
    start: datetime, end: datetime, reason: str = "State testing week", pk: int = 1
) -> BlackoutPeriod:
    return BlackoutPeriod(start, end, pk, reason)


def rules(*, windows: bool = True, blackouts=(), busy=(), expected: timedelta = HOUR) -> StartRules:
    return StartRules((THURSDAY,) if windows else (), expected, tuple(blackouts), tuple(busy), ZONE)


def codes(start: datetime, judged: StartRules) -> list[ErrorCode]:
    return [c.code for c in conflicts_at(start, judged)]


# --------------------------------------------------------------------- every conflict at once


def test_a_start_with_no_conflict():
    assert conflicts_at(MARCH_5, rules()) == [] and start_conflict(MARCH_5, rules()) is None
    assert next_start(MARCH_5, rules()) == MARCH_5


def test_every_conflict_of_a_start_at_once_the_blackout_leading():
    testing = blackout(MARCH_5 - timedelta(days=1), MARCH_5 + timedelta(days=2))
    other = BusySlot(
        MARCH_5 + timedelta(hours=4), MARCH_5 + timedelta(hours=5), 7, "the refresh of the sandbox"
    )
    start = MARCH_5 + timedelta(hours=4, minutes=30)  # 05:00 CST: after the window closed
    judged = rules(blackouts=[testing], busy=[other])
    found = conflicts_at(start, judged)
    assert [c.code for c in found] == [
        ErrorCode.BLACKOUT,
        ErrorCode.OUTSIDE_MAINTENANCE_WINDOW,
        ErrorCode.ENVIRONMENT_BUSY,
    ]
    assert (found[0].blackout, found[2].busy) == (testing, other)
    assert start_conflict(start, judged) is ErrorCode.BLACKOUT


def test_too_short_and_a_blackout_together():
    late = MARCH_5 + timedelta(hours=2, minutes=45)  # 03:15 CST: 15 minutes of the window left
    judged = rules(blackouts=[blackout(late, late + timedelta(days=1))])
    assert codes(late, judged) == [ErrorCode.BLACKOUT, ErrorCode.WINDOW_TOO_SHORT]


def test_work_that_would_run_into_a_blackout_conflicts_with_it():
    begins = MARCH_5 + timedelta(minutes=30)  # the blackout begins at 01:00 CST
    judged = rules(blackouts=[blackout(begins, begins + timedelta(days=1))])
    assert codes(MARCH_5, judged) == [ErrorCode.BLACKOUT]
    # Work that ends exactly when the blackout begins does not touch it.
    assert codes(begins - HOUR, rules(windows=False, blackouts=judged.blackouts)) == []


def test_busy_slots_may_touch_but_not_overlap():
    other = BusySlot(MARCH_5, MARCH_5 + HOUR, 7, "the update of the production site to Campus.2439.1")
    judged = rules(busy=[other])
    assert codes(MARCH_5 + HOUR, judged) == []  # back to back
    assert codes(MARCH_5 + timedelta(minutes=59), judged) == [ErrorCode.ENVIRONMENT_BUSY]
    assert codes(MARCH_5 - timedelta(minutes=59), rules(windows=False, busy=[other])) == [
        ErrorCode.ENVIRONMENT_BUSY
    ]


def test_an_override_removes_the_window_rules_only():
    testing = blackout(MARCH_5, MARCH_5 + timedelta(days=1))
    other = BusySlot(MARCH_5 + timedelta(hours=6), MARCH_5 + timedelta(hours=7), 7, "the refresh")
    found = conflicts_at(MARCH_5 + timedelta(hours=6), rules(blackouts=[testing], busy=[other]))
    assert [c.code for c in refusable(found, window_override=True)] == [
        ErrorCode.BLACKOUT,
        ErrorCode.ENVIRONMENT_BUSY,
    ]
    assert refusable(found, window_override=False) == found


# --------------------------------------------------------------------- the next possible start


def test_past_a_blackout_across_the_spring_change():
    """A blackout over the window of March 5 (CST): the next start is March 12 00:30 CDT, one hour
    earlier in UTC."""
    testing = blackout(datetime(2026, 3, 2, 6, 0, tzinfo=UTC), datetime(2026, 3, 7, 6, 0, tzinfo=UTC))
    assert next_start(MARCH_5, rules(blackouts=[testing])) == MARCH_12


def test_past_a_blackout_spanning_two_windows_and_the_change():
    testing = blackout(datetime(2026, 3, 4, 6, 0, tzinfo=UTC), datetime(2026, 3, 13, 5, 0, tzinfo=UTC))
    assert next_start(MARCH_5 - timedelta(days=2), rules(blackouts=[testing])) == MARCH_19


def test_past_a_blackout_across_the_autumn_change():
    testing = blackout(OCTOBER_29 - timedelta(hours=1), OCTOBER_29 + timedelta(days=2))
    assert next_start(OCTOBER_29, rules(blackouts=[testing])) == NOVEMBER_5


def test_a_blackout_ending_inside_the_window_leaves_the_rest_of_it():
    ends = MARCH_5 + timedelta(minutes=30)  # 01:00 CST: two and a half hours of the window left
    assert next_start(MARCH_5 - HOUR, rules(blackouts=[blackout(MARCH_5 - HOUR, ends)])) == ends
    too_late = MARCH_5 + timedelta(hours=2, minutes=15)  # 02:45 CST: 45 minutes left
    assert next_start(MARCH_5, rules(blackouts=[blackout(MARCH_5, too_late)])) == MARCH_12


def test_chains_of_blackouts_and_busy_slots_are_passed_in_turn():
    first = blackout(MARCH_5, MARCH_5 + timedelta(minutes=30))
    taken = BusySlot(MARCH_5 + timedelta(minutes=30), MARCH_5 + timedelta(minutes=90), 7, "the refresh")
    second = blackout(MARCH_5 + timedelta(minutes=100), MARCH_5 + timedelta(minutes=130), pk=2)
    judged = rules(blackouts=[second, first], busy=[taken])
    # 02:00-02:10 CST is free but too short for the hour; 02:40 CST leaves only 50 minutes.
    assert next_start(MARCH_5, judged) == MARCH_12
    assert next_start(MARCH_5, rules(windows=False, blackouts=[second, first], busy=[taken])) == (
        MARCH_5 + timedelta(minutes=130)
    )


def test_work_not_bound_to_windows_starts_when_the_blackout_ends():
    ends = MARCH_5 + timedelta(days=3)
    judged = rules(windows=False, blackouts=[blackout(MARCH_5 - HOUR, ends)])
    assert codes(MARCH_5, judged) == [ErrorCode.BLACKOUT]
    assert next_start(MARCH_5, judged) == ends


def test_after_a_long_blackout_the_search_goes_on_from_its_end():
    ends = datetime(2027, 7, 2, tzinfo=UTC)  # 69 weeks on: past the window lookahead from March 5
    judged = rules(blackouts=[blackout(MARCH_5, ends)])
    assert next_start(MARCH_5, judged) == datetime(2027, 7, 8, 5, 30, tzinfo=UTC)  # 00:30 CDT


def test_no_start_when_no_window_is_long_enough():
    judged = rules(blackouts=[blackout(MARCH_5, MARCH_12)], expected=timedelta(hours=4))
    assert next_start(MARCH_5, judged) is None


# --------------------------------------------------------------------- who shares a site


@pytest.mark.parametrize(
    ("a", "b", "shared"),
    [
        (
            (UpdateKind.VERSION_UPDATE, EnvironmentKind.PRODUCTION),
            (UpdateKind.VERSION_UPDATE, EnvironmentKind.PRODUCTION),
            True,
        ),
        (
            (UpdateKind.DATABASE_REFRESH, EnvironmentKind.SANDBOX),
            (UpdateKind.VERSION_UPDATE, EnvironmentKind.PRODUCTION),
            True,
        ),
        (
            (UpdateKind.DATABASE_REFRESH, EnvironmentKind.SANDBOX),
            (UpdateKind.DATABASE_REFRESH, EnvironmentKind.STAGING),
            True,
        ),
        (
            (UpdateKind.DATABASE_REFRESH, EnvironmentKind.STAGING),
            (UpdateKind.VERSION_UPDATE, EnvironmentKind.STAGING),
            True,
        ),
        (
            (UpdateKind.VERSION_UPDATE, EnvironmentKind.STAGING),
            (UpdateKind.VERSION_UPDATE, EnvironmentKind.PRODUCTION),
            False,
        ),
        (
            (UpdateKind.VERSION_UPDATE, EnvironmentKind.SANDBOX),
            (UpdateKind.DATABASE_REFRESH, EnvironmentKind.STAGING),
            False,
        ),
    ],
)
def test_which_requests_share_a_site(a, b, shared):
    assert shares_site(*a, *b) is shared and shares_site(*b, *a) is shared


# --------------------------------------------------------------------- words


def test_a_blackout_message_names_it_the_time_and_the_next_start():
    testing = blackout(MARCH_5 - timedelta(days=1), MARCH_5 + timedelta(days=2))
    judged = rules(blackouts=[testing])
    (found,) = conflicts_at(MARCH_5, judged)
    message = conflict_message(found, MARCH_5, judged, next_start(MARCH_5, judged))
    assert message.startswith(
        "A blackout (State testing week) covers Thursday, March 05, 2026 at 12:30 AM CST"
    )
    assert "cannot be overridden" in message
    assert message.endswith("The next possible start is Thursday, March 12, 2026 at 12:30 AM CDT.")


def test_a_message_for_work_that_would_run_into_a_blackout():
    testing = blackout(MARCH_5 + timedelta(minutes=30), MARCH_5 + timedelta(days=1))
    judged = rules(blackouts=[testing])
    (found,) = conflicts_at(MARCH_5, judged)
    message = conflict_message(found, MARCH_5, judged, MARCH_12)
    assert "about 60 minutes" in message and "would run into a blackout (State testing week)" in message
    assert "from Thursday, March 05, 2026 at 01:00 AM CST" in message


def test_busy_messages_name_the_other_work():
    scheduled = BusySlot(MARCH_5, MARCH_5 + HOUR, 7, "the refresh of the sandbox site with production data")
    running = BusySlot(MARCH_5, MARCH_5 + HOUR, 8, "the update of the production site to Campus.2439.1", True)
    judged = rules(busy=[scheduled])
    taken = conflict_message(Conflict(ErrorCode.ENVIRONMENT_BUSY, busy=scheduled), MARCH_5, judged, MARCH_12)
    assert "the refresh of the sandbox site with production data is scheduled for Thursday, March 05" in taken
    busy = conflict_message(Conflict(ErrorCode.ENVIRONMENT_BUSY, busy=running), MARCH_5, judged, MARCH_12)
    assert (
        "Campus.2439.1 is running on it" in busy
        and "until about Thursday, March 05, 2026 at 01:30 AM" in busy
    )


def test_what_a_district_reads_when_its_work_was_moved():
    testing = blackout(MARCH_5 - timedelta(days=1), MARCH_5 + timedelta(days=2))
    judged = rules(blackouts=[testing])
    leading = conflicts_at(MARCH_5, judged)[0]
    assert reslot_message(leading, judged, MARCH_12) == (
        "It could not start during a blackout (State testing week, until Saturday, March 07, 2026 at "
        "12:30 AM CST), so it moved to Thursday, March 12, 2026 at 12:30 AM CDT."
    )
    assert reslot_message(leading, judged, None).endswith("Campus Hosting will choose a new time.")
    window = reslot_message(Conflict(ErrorCode.WINDOW_TOO_SHORT), judged, MARCH_12)
    assert window.startswith("It could no longer start in time to finish inside the maintenance window")
