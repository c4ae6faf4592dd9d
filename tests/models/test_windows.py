"""Maintenance-window arithmetic: Thursday 00:30-03:30 America/Chicago, whose UTC instants move with
daylight saving. 2026 changes: spring forward Sunday March 8, fall back Sunday November 1."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from models.enums import ErrorCode
from models.errors import DomainError
from models.windows import Slot, WeeklyWindow, describe_windows, is_inside_windows, next_slots

CHICAGO = ZoneInfo("America/Chicago")
THURSDAY = WeeklyWindow(4, time(0, 30), time(3, 30), "America/Chicago")
SECOND = timedelta(seconds=1)
MICRO = timedelta(microseconds=1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# Thursday slots as UTC instants: 06:30-09:30 in CST (UTC-6), 05:30-08:30 in CDT (UTC-5).
WEEKS = {
    "CST week (January)": (utc(2026, 1, 15, 6, 30), utc(2026, 1, 15, 9, 30)),
    "CDT week (July)": (utc(2026, 7, 16, 5, 30), utc(2026, 7, 16, 8, 30)),
    "week before spring forward": (utc(2026, 3, 5, 6, 30), utc(2026, 3, 5, 9, 30)),
    "week of spring forward": (utc(2026, 3, 12, 5, 30), utc(2026, 3, 12, 8, 30)),
    "week before fall back": (utc(2026, 10, 29, 5, 30), utc(2026, 10, 29, 8, 30)),
    "week of fall back": (utc(2026, 11, 5, 6, 30), utc(2026, 11, 5, 9, 30)),
}


@pytest.mark.parametrize("week", list(WEEKS))
def test_instants_just_inside_the_window(week):
    start, end = WEEKS[week]
    assert start.astimezone(CHICAGO).strftime("%A %H:%M") == "Thursday 00:30"
    assert end.astimezone(CHICAGO).strftime("%A %H:%M") == "Thursday 03:30"
    for instant in (start, start + SECOND, start + timedelta(hours=1, minutes=30), end - SECOND, end - MICRO):
        assert is_inside_windows(instant, [THURSDAY]), instant


@pytest.mark.parametrize("week", list(WEEKS))
def test_instants_just_outside_the_window(week):
    start, end = WEEKS[week]
    for instant in (
        start - MICRO,
        start - SECOND,
        end,
        end + SECOND,
        start - timedelta(days=1),
        end + timedelta(days=1),
    ):
        assert not is_inside_windows(instant, [THURSDAY]), instant


@pytest.mark.parametrize("week", list(WEEKS))
def test_the_other_offset_is_not_used(week):
    """Someone assuming the wrong UTC offset would open or close the window an hour off."""
    start, end = WEEKS[week]
    is_cst = start.hour == 6
    if is_cst:  # 06:00 UTC is 00:00 CST: would be inside if the CDT offset were used
        assert not is_inside_windows(start - timedelta(minutes=30), [THURSDAY])
        assert is_inside_windows(end - timedelta(minutes=30), [THURSDAY])
    else:  # 08:45 UTC is 03:45 CDT: would be inside if the CST offset were used
        assert not is_inside_windows(end + timedelta(minutes=15), [THURSDAY])
        assert is_inside_windows(start + timedelta(minutes=15), [THURSDAY])


def test_an_instant_given_in_local_time_is_compared_as_the_same_instant():
    local = datetime(2026, 3, 12, 0, 30, tzinfo=CHICAGO)
    assert local == utc(2026, 3, 12, 5, 30)
    assert is_inside_windows(local, [THURSDAY])
    assert not is_inside_windows(local - SECOND, [THURSDAY])


def test_naive_instants_are_refused():
    with pytest.raises(DomainError) as caught:
        is_inside_windows(datetime(2026, 3, 12, 6, 0), [THURSDAY])
    assert caught.value.code is ErrorCode.VALIDATION
    with pytest.raises(DomainError):
        next_slots(datetime(2026, 3, 12, 6, 0), [THURSDAY], 2)


def test_no_windows_means_never_inside_and_no_slots():
    assert not is_inside_windows(utc(2026, 3, 12, 6, 0), [])
    assert next_slots(utc(2026, 3, 12, 6, 0), [], 4) == []
    assert next_slots(utc(2026, 3, 12, 6, 0), [THURSDAY], 0) == []


def test_next_slots_across_the_spring_change_move_an_hour_earlier_in_utc():
    slots = next_slots(utc(2026, 3, 2, 12, 0), [THURSDAY], 3)
    assert slots == [
        Slot(utc(2026, 3, 5, 6, 30), utc(2026, 3, 5, 9, 30)),
        Slot(utc(2026, 3, 12, 5, 30), utc(2026, 3, 12, 8, 30)),
        Slot(utc(2026, 3, 19, 5, 30), utc(2026, 3, 19, 8, 30)),
    ]


def test_next_slots_across_the_autumn_change_move_an_hour_later_in_utc():
    slots = next_slots(utc(2026, 10, 26, 12, 0), [THURSDAY], 3)
    assert slots == [
        Slot(utc(2026, 10, 29, 5, 30), utc(2026, 10, 29, 8, 30)),
        Slot(utc(2026, 11, 5, 6, 30), utc(2026, 11, 5, 9, 30)),
        Slot(utc(2026, 11, 12, 6, 30), utc(2026, 11, 12, 9, 30)),
    ]


def test_a_slot_in_progress_is_included():
    now = utc(2026, 3, 12, 7, 0)  # Thursday 02:00 CDT
    slots = next_slots(now, [THURSDAY], 2)
    assert slots[0] == Slot(utc(2026, 3, 12, 5, 30), utc(2026, 3, 12, 8, 30))
    assert slots[0].contains(now)
    assert slots[1].start == utc(2026, 3, 19, 5, 30)


def test_a_slot_that_just_ended_is_not_included():
    slots = next_slots(utc(2026, 3, 12, 8, 30), [THURSDAY], 1)
    assert slots == [Slot(utc(2026, 3, 19, 5, 30), utc(2026, 3, 19, 8, 30))]


def test_a_year_of_slots_always_starts_thursday_0030_chicago():
    slots = next_slots(utc(2026, 1, 1, 0, 0), [THURSDAY], 60)
    assert len(slots) == 60
    offsets = set()
    for slot in slots:
        local_start, local_end = slot.start.astimezone(CHICAGO), slot.end.astimezone(CHICAGO)
        assert (local_start.weekday(), local_start.time()) == (3, time(0, 30))
        assert (local_end.weekday(), local_end.time()) == (3, time(3, 30))
        assert slot.end - slot.start == timedelta(hours=3)
        offsets.add(slot.start.hour)
    assert offsets == {5, 6}  # both CDT and CST weeks were crossed
    assert all(a.start + timedelta(days=6) < b.start for a, b in itertools.pairwise(slots))


# --------------------------------------------------------------------- windows crossing midnight

SATURDAY_NIGHT = WeeklyWindow(6, time(22, 0), time(2, 0), "America/Chicago")


def test_a_window_crossing_midnight_spans_into_the_next_day():
    slot = next(SATURDAY_NIGHT.slots_from(utc(2026, 1, 5)))
    # Saturday 2026-01-10 22:00 CST to Sunday 02:00 CST.
    assert slot == Slot(utc(2026, 1, 11, 4, 0), utc(2026, 1, 11, 8, 0))
    assert is_inside_windows(utc(2026, 1, 11, 7, 0), [SATURDAY_NIGHT])  # Sunday 01:00 local
    assert is_inside_windows(utc(2026, 1, 11, 4, 0), [SATURDAY_NIGHT])
    assert not is_inside_windows(utc(2026, 1, 11, 8, 0), [SATURDAY_NIGHT])
    assert not is_inside_windows(utc(2026, 1, 11, 3, 59), [SATURDAY_NIGHT])


def test_a_window_crossing_midnight_found_from_inside_its_second_day():
    now = utc(2026, 1, 11, 7, 30)  # Sunday 01:30 local, the slot began the day before
    slots = next_slots(now, [SATURDAY_NIGHT], 2)
    assert slots[0] == Slot(utc(2026, 1, 11, 4, 0), utc(2026, 1, 11, 8, 0))
    assert slots[1] == Slot(utc(2026, 1, 18, 4, 0), utc(2026, 1, 18, 8, 0))


def test_a_window_crossing_midnight_on_the_spring_forward_night():
    """Saturday 22:00 CST to the Sunday 02:00 that never happens: the clock jumps to 03:00 CDT,
    so the window lasts until then (4 real hours), and 01:30 CST is inside it."""
    slot = SATURDAY_NIGHT.slot_on(datetime(2026, 3, 7).date())
    assert slot.start == utc(2026, 3, 8, 4, 0)
    assert slot.end == utc(2026, 3, 8, 8, 0)
    assert is_inside_windows(utc(2026, 3, 8, 7, 30), [SATURDAY_NIGHT])  # 01:30 CST


def test_a_window_crossing_midnight_on_the_fall_back_night():
    """Saturday 22:00 CDT to Sunday 02:00 CST: the repeated hour makes it 5 real hours."""
    slot = SATURDAY_NIGHT.slot_on(datetime(2026, 10, 31).date())
    assert slot == Slot(utc(2026, 11, 1, 3, 0), utc(2026, 11, 1, 8, 0))


def test_a_window_starting_in_the_skipped_hour_starts_when_the_clock_jumps_past_it():
    """02:30 does not exist on 2026-03-08 in Chicago; the window cannot open before it (01:30 CST
    is still before 02:30 on the wall clock)."""
    window = WeeklyWindow(7, time(2, 30), time(4, 0), "America/Chicago")
    slot = window.slot_on(datetime(2026, 3, 8).date())
    assert slot.start == utc(2026, 3, 8, 8, 30)  # moved forward by the gap: 03:30 CDT
    assert slot.end == utc(2026, 3, 8, 9, 0)  # 04:00 CDT
    assert not is_inside_windows(utc(2026, 3, 8, 7, 45), [window])  # 01:45 CST
    assert is_inside_windows(utc(2026, 3, 8, 8, 45), [window])


def test_a_window_in_the_repeated_hour_takes_its_first_occurrence():
    window = WeeklyWindow(7, time(1, 0), time(1, 30), "America/Chicago")
    slot = window.slot_on(datetime(2026, 11, 1).date())
    assert slot == Slot(utc(2026, 11, 1, 6, 0), utc(2026, 11, 1, 6, 30))  # 01:00-01:30 CDT


# --------------------------------------------------------------------- several windows, bad input


def test_several_windows_are_merged_in_time_order():
    tuesday = WeeklyWindow(2, time(23, 0), time(1, 0), "America/Chicago")
    wednesday = WeeklyWindow(3, time(0, 30), time(2, 0), "America/Chicago")  # overlaps Tuesday's
    slots = next_slots(utc(2026, 1, 5, 12, 0), [THURSDAY, wednesday, tuesday], 3)
    assert slots == [
        Slot(utc(2026, 1, 7, 5, 0), utc(2026, 1, 7, 8, 0)),  # Tue 23:00 to Wed 02:00 CST, merged
        Slot(utc(2026, 1, 8, 6, 30), utc(2026, 1, 8, 9, 30)),
        Slot(utc(2026, 1, 14, 5, 0), utc(2026, 1, 14, 8, 0)),
    ]
    assert is_inside_windows(utc(2026, 1, 7, 7, 0), [THURSDAY, wednesday])
    assert not is_inside_windows(utc(2026, 1, 7, 7, 0), [THURSDAY])


def test_a_window_in_another_zone():
    berlin = WeeklyWindow(4, time(0, 30), time(3, 30), "Europe/Berlin")
    assert is_inside_windows(utc(2026, 1, 14, 23, 30), [berlin])  # Thursday 00:30 CET
    assert not is_inside_windows(utc(2026, 1, 15, 6, 30), [berlin])


@pytest.mark.parametrize("weekday", [-1, 0, 8])
def test_bad_weekday_is_validation(weekday):
    with pytest.raises(DomainError) as caught:
        WeeklyWindow(weekday, time(0, 30), time(3, 30), "America/Chicago")
    assert (caught.value.code, caught.value.field) == (ErrorCode.VALIDATION, "weekday")


@pytest.mark.parametrize("zone", ["America/Nowhere", "", "../etc/passwd"])
def test_bad_time_zone_is_validation(zone):
    with pytest.raises(DomainError) as caught:
        WeeklyWindow(4, time(0, 30), time(3, 30), zone)
    assert (caught.value.code, caught.value.field) == (ErrorCode.VALIDATION, "timeZone")


def test_describe_windows():
    assert describe_windows([THURSDAY]) == "Thursday 00:30-03:30 America/Chicago"
    assert describe_windows([]) == "no window"
