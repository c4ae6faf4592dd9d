"""When work may start (models/schedule.py): inside a window, with its expected duration left
before the window ends; the next start that fits. Pure: no database, no clock."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from models.enums import ErrorCode, HostingModel, UpdateKind
from models.schedule import Conflict, StartRules, next_start, rules_for, start_conflict
from models.schedule_words import conflict_message
from models.windows import WeeklyWindow

THURSDAY = WeeklyWindow(4, time(0, 30), time(3, 30), "America/Chicago")
HOUR = timedelta(hours=1)
RULES = StartRules((THURSDAY,), HOUR)
#: Thursday 2026-11-05 in CST (UTC-6): the window is 06:30-09:30 UTC.
OPENS = datetime(2026, 11, 5, 6, 30, tzinfo=UTC)
CLOSES = datetime(2026, 11, 5, 9, 30, tzinfo=UTC)
NEXT_WEEK = OPENS + timedelta(days=7)


@pytest.mark.parametrize("start", [OPENS, OPENS + HOUR, CLOSES - HOUR])
def test_a_start_that_leaves_the_expected_hour_fits(start):
    assert start_conflict(start, RULES) is None
    assert next_start(start, RULES) == start


@pytest.mark.parametrize("start", [CLOSES - HOUR + timedelta(microseconds=1), CLOSES - timedelta(minutes=30)])
def test_a_start_too_close_to_the_end_is_too_short(start):
    assert start_conflict(start, RULES) is ErrorCode.WINDOW_TOO_SHORT
    assert next_start(start, RULES) == NEXT_WEEK


@pytest.mark.parametrize("start", [OPENS - timedelta(microseconds=1), CLOSES, OPENS + timedelta(days=1)])
def test_a_start_outside_every_window(start):
    assert start_conflict(start, RULES) is ErrorCode.OUTSIDE_MAINTENANCE_WINDOW


def test_the_next_start_is_the_window_opening_or_now_when_there_is_room():
    monday = OPENS - timedelta(days=3)
    assert next_start(monday, RULES) == OPENS
    assert next_start(OPENS + timedelta(minutes=10), RULES) == OPENS + timedelta(minutes=10)
    # Thursday 09:00 Central, the late scheduler of issue 12: next week's window.
    assert next_start(datetime(2026, 11, 5, 15, 0, tzinfo=UTC), RULES) == NEXT_WEEK


def test_daylight_saving_moves_the_utc_instants():
    before_spring = datetime(2026, 3, 6, tzinfo=UTC)  # Friday before the change
    assert next_start(before_spring, RULES) == datetime(2026, 3, 12, 5, 30, tzinfo=UTC)  # CDT


def test_the_expected_duration_is_a_parameter():
    long_work = StartRules((THURSDAY,), timedelta(hours=3))
    assert start_conflict(OPENS, long_work) is None
    assert start_conflict(OPENS + timedelta(minutes=1), long_work) is ErrorCode.WINDOW_TOO_SHORT
    too_long = StartRules((THURSDAY,), timedelta(hours=4))
    assert next_start(OPENS, too_long) is None
    assert start_conflict(OPENS, too_long) is ErrorCode.WINDOW_TOO_SHORT


def test_windows_that_touch_merge_into_one_slot():
    # Thursday 03:30-05:00 right after the standard window: a start at 03:00 has 2 hours.
    later = WeeklyWindow(4, time(3, 30), time(5, 0), "America/Chicago")
    rules = StartRules((THURSDAY, later), HOUR)
    assert start_conflict(CLOSES - timedelta(minutes=30), rules) is None


def test_a_window_past_midnight():
    night = WeeklyWindow(7, time(23, 0), time(1, 0), "America/Chicago")  # Sunday 23:00 to Monday 01:00
    rules = StartRules((night,), HOUR)
    sunday_late = datetime(2026, 11, 9, 5, 0, tzinfo=UTC)  # Sunday 23:00 CST
    assert start_conflict(sunday_late, rules) is None
    assert start_conflict(sunday_late + timedelta(minutes=61), rules) is ErrorCode.WINDOW_TOO_SHORT


def test_work_not_bound_to_windows_starts_whenever():
    for kind, model in [
        (UpdateKind.VERSION_UPDATE, HostingModel.ASP_HOSTED),
        (UpdateKind.DATABASE_REFRESH, HostingModel.CAMPUS_CLOUD),
    ]:
        rules = rules_for(kind, model, [THURSDAY], HOUR)
        assert not rules.window_bound
        assert start_conflict(CLOSES, rules) is None and next_start(CLOSES, rules) == CLOSES
    assert rules_for(UpdateKind.VERSION_UPDATE, HostingModel.CAMPUS_CLOUD, [THURSDAY], HOUR).window_bound


def test_messages_say_what_is_wrong_and_the_next_start_in_local_time():
    late = CLOSES - timedelta(minutes=30)
    message = conflict_message(Conflict(ErrorCode.WINDOW_TOO_SHORT), late, RULES, NEXT_WEEK)
    assert "60 minutes" in message and "starting Thursday, November 05, 2026 at 03:00 AM CST" in message
    assert message.endswith("The next possible start is Thursday, November 12, 2026 at 12:30 AM CST.")
    outside = conflict_message(Conflict(ErrorCode.OUTSIDE_MAINTENANCE_WINDOW), CLOSES, RULES, NEXT_WEEK)
    assert "Thursday 00:30-03:30 America/Chicago" in outside and "override" in outside
    assert "Thursday, November 12, 2026 at 12:30 AM CST" in outside
    assert "No maintenance window is long enough" in conflict_message(
        Conflict(ErrorCode.WINDOW_TOO_SHORT), late, RULES, None
    )


def test_window_bound_work_with_no_window_defined_has_no_start_rather_than_any() -> None:
    """With every window of its hosting model deleted, a Campus Cloud version update may not start
    at all (until one is set, or staff override); work bound to no window is not held."""
    bound = rules_for(UpdateKind.VERSION_UPDATE, HostingModel.CAMPUS_CLOUD, (), HOUR)
    assert bound.window_bound
    assert start_conflict(OPENS, bound) is ErrorCode.OUTSIDE_MAINTENANCE_WINDOW
    assert next_start(OPENS, bound) is None
    assert next_start(OPENS, bound.without_windows()) == OPENS
    for kind, hosting in (
        (UpdateKind.DATABASE_REFRESH, HostingModel.CAMPUS_CLOUD),
        (UpdateKind.VERSION_UPDATE, HostingModel.ASP_HOSTED),
    ):
        free = rules_for(kind, hosting, (THURSDAY,), HOUR)
        assert not free.window_bound and next_start(OPENS + 5 * HOUR, free) == OPENS + 5 * HOUR
