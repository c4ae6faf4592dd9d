"""Rules without a database: window rules as staff type them (ISO weekdays, "HH:MM", zones),
whether work touches a blackout, which blackouts cover a district, and the calendar messages a
request's history sends."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from models.blackouts import BlackoutScope, DistrictFacts, check_blackout, covers
from models.calendars import CalendarMethod, invitation_messages, latest_invitation
from models.enums import ErrorCode, HostingModel, NotifyPreference, Role, UpdateStatus
from models.errors import DomainError
from models.maintenance import check_rule
from models.preferences import DEFAULT_NOTIFY, effective_notify, wants_notice
from models.windows import Slot, WeeklyWindow, first_start_clear_of, next_slots, parse_clock_time, touching

S = UpdateStatus
NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def utc(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def refusal(call, *args, **kwargs) -> tuple[ErrorCode, str | None]:
    with pytest.raises(DomainError) as caught:
        call(*args, **kwargs)
    return caught.value.code, caught.value.field


# --------------------------------------------------------------------- rules as staff type them


def test_a_rule_is_checked_into_a_weekly_window_with_iso_weekdays():
    rule = check_rule(HostingModel.CAMPUS_CLOUD, 4, "00:30", "03:30", "America/Chicago")
    assert rule.window == WeeklyWindow(4, time(0, 30), time(3, 30), "America/Chicago")
    # ISO 4 is Thursday: the first slot after Monday 2026-11-02 is Thursday 00:30 CST.
    assert next_slots(NOW, [rule.window], 1) == [Slot(utc(11, 5, 6, 30), utc(11, 5, 9, 30))]


@pytest.mark.parametrize(
    ("weekday", "local_day"),
    [(1, "Monday"), (6, "Saturday"), (7, "Sunday")],
)
def test_weekday_numbers_are_iso(weekday, local_day):
    window = check_rule(HostingModel.ASP_HOSTED, weekday, "12:00", "13:00", "Europe/Berlin").window
    slot = next_slots(NOW, [window], 1)[0]
    assert slot.start.astimezone(window.zone).strftime("%A %H:%M") == f"{local_day} 12:00"


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((0, "00:30", "03:30", "America/Chicago"), "weekday"),
        ((8, "00:30", "03:30", "America/Chicago"), "weekday"),
        ((4, "24:00", "03:30", "America/Chicago"), "startTime"),
        ((4, "7:30", "09:30", "America/Chicago"), "startTime"),
        ((4, "00:30:00", "03:30", "America/Chicago"), "startTime"),
        ((4, "", "03:30", "America/Chicago"), "startTime"),
        ((4, "00:30", "03:60", "America/Chicago"), "endTime"),
        ((4, "00:30", "noon", "America/Chicago"), "endTime"),
        ((4, "00:30", "00:30", "America/Chicago"), "endTime"),
        ((4, "00:30", "03:30", "America/Nowhere"), "timeZone"),
        ((4, "00:30", "03:30", "america/chicago"), "timeZone"),
        ((4, "00:30", "03:30", "localtime"), "timeZone"),
        ((4, "00:30", "03:30", ""), "timeZone"),
    ],
)
def test_bad_rules_are_validation_naming_the_field(args, field):
    assert refusal(check_rule, HostingModel.CAMPUS_CLOUD, *args) == (ErrorCode.VALIDATION, field)


def test_clock_times():
    assert parse_clock_time(" 23:59 ", "startTime") == time(23, 59)
    assert parse_clock_time("00:00", "startTime") == time(0, 0)
    assert refusal(parse_clock_time, "12:5", "endTime") == (ErrorCode.VALIDATION, "endTime")


def test_a_rule_past_midnight_on_both_daylight_saving_nights():
    """Saturday 23:00 to Sunday 01:30 Chicago, on the nights the clocks change."""
    window = check_rule(HostingModel.CAMPUS_CLOUD, 6, "23:00", "01:30", "America/Chicago").window
    spring = next_slots(utc(3, 7, 12), [window], 1)[0]
    assert spring == Slot(utc(3, 8, 5, 0), utc(3, 8, 7, 30))  # 23:00 CST to 01:30 CST: 2.5 h
    autumn = next_slots(utc(10, 31, 12), [window], 1)[0]
    assert autumn == Slot(utc(11, 1, 4, 0), utc(11, 1, 6, 30))  # 23:00 CDT to 01:30 CDT (first)
    week_after = next_slots(utc(11, 2), [window], 1)[0]
    assert week_after == Slot(utc(11, 8, 5, 0), utc(11, 8, 7, 30))  # now CST: an hour later in UTC


# --------------------------------------------------------------------- touching a blocked period

BLACKOUT = Slot(utc(11, 5, 6, 0), utc(11, 5, 8, 0))


@pytest.mark.parametrize(
    ("start", "duration", "touches"),
    [
        (utc(11, 5, 5, 0), HOUR, False),  # ends exactly when the blackout begins
        (utc(11, 5, 5, 1), HOUR, True),  # runs one minute into it
        (utc(11, 5, 6, 0), timedelta(0), True),  # starts at its first instant
        (utc(11, 5, 7, 59), timedelta(0), True),  # starts inside it, however short
        (utc(11, 5, 8, 0), HOUR, False),  # starts exactly when it ends
        (utc(11, 5, 4, 0), 5 * HOUR, True),  # spans it entirely
    ],
)
def test_touching_a_blackout(start, duration, touches):
    assert touching(start, duration, [BLACKOUT]) == ([BLACKOUT] if touches else [])


def test_the_first_start_clear_of_blackouts_skips_chains_of_them():
    second = Slot(utc(11, 5, 8, 30), utc(11, 5, 9, 0))  # a 30-minute gap is too short for 1 h
    assert first_start_clear_of(utc(11, 5, 7), HOUR, [second, BLACKOUT]) == utc(11, 5, 9)
    assert first_start_clear_of(utc(11, 5, 7), timedelta(minutes=30), [second, BLACKOUT]) == utc(11, 5, 8)
    assert first_start_clear_of(utc(11, 5, 3), HOUR, [BLACKOUT]) == utc(11, 5, 3)


def test_touching_refuses_a_naive_start():
    assert refusal(touching, datetime(2026, 11, 5, 6, 0), HOUR, [BLACKOUT])[0] is ErrorCode.VALIDATION


# --------------------------------------------------------------------- blackout scopes

LAKESIDE = DistrictFacts(1, HostingModel.CAMPUS_CLOUD, update_group_id=10)
HILLTOP = DistrictFacts(2, HostingModel.ASP_HOSTED, update_group_id=None)


@pytest.mark.parametrize(
    ("scope", "lakeside", "hilltop"),
    [
        (BlackoutScope(), True, True),
        (BlackoutScope(hosting_model=HostingModel.CAMPUS_CLOUD), True, False),
        (BlackoutScope(hosting_model=HostingModel.ASP_HOSTED), False, True),
        (BlackoutScope(update_group_id=10), True, False),
        (BlackoutScope(update_group_id=11), False, False),
        (BlackoutScope(district_id=2), False, True),
    ],
)
def test_which_districts_a_blackout_covers(scope, lakeside, hilltop):
    assert (covers(scope, LAKESIDE), covers(scope, HILLTOP)) == (lakeside, hilltop)


@pytest.mark.parametrize(
    ("start", "end", "reason", "scope", "field"),
    [
        (utc(12, 1), utc(12, 1), "Testing", BlackoutScope(), "end"),
        (utc(12, 2), utc(12, 1), "Testing", BlackoutScope(), "end"),
        (utc(10, 1), utc(10, 8), "Testing", BlackoutScope(), "end"),  # over before now
        (datetime(2026, 12, 1), utc(12, 2), "Testing", BlackoutScope(), "start"),
        (utc(12, 1), datetime(2026, 12, 2), "Testing", BlackoutScope(), "end"),
        (utc(12, 1), utc(12, 2), "   ", BlackoutScope(), "reason"),
        (utc(12, 1), utc(12, 2), "x" * 501, BlackoutScope(), "reason"),
        (utc(12, 1), utc(12, 2), "Testing", BlackoutScope(HostingModel.ASP_HOSTED, 3), "updateGroupId"),
        (utc(12, 1), utc(12, 2), "Testing", BlackoutScope(None, 3, 4), "districtId"),
    ],
)
def test_bad_blackouts_are_validation_naming_the_field(start, end, reason, scope, field):
    assert refusal(check_blackout, start, end, reason, scope, NOW) == (ErrorCode.VALIDATION, field)


def test_a_good_blackout_is_stored_in_utc_with_its_reason_trimmed():
    local = datetime.fromisoformat("2027-04-12T00:00:00-05:00")
    start, end, reason = check_blackout(
        local, local + timedelta(days=5), " State testing ", BlackoutScope(), NOW
    )
    assert (start, end, reason) == (
        utc(4, 12, 5).replace(year=2027),
        utc(4, 17, 5).replace(year=2027),
        "State testing",
    )


# --------------------------------------------------------------------- calendar messages


def test_history_to_calendar_messages():
    t = [NOW + timedelta(hours=i) for i in range(9)]
    history = [
        (S.TO_BE_SCHEDULED, t[0]),
        (S.SCHEDULED, t[1]),  # invitation
        (S.SCHEDULED, t[2]),  # reschedule: update
        (S.PENDING_INPUT, t[3]),  # withdrawn
        (S.DEFERRED, t[4]),  # nothing left to withdraw
        (S.SCHEDULED, t[5]),  # resumed: invited again, same event
        (S.NOT_STARTED, t[6]),
        (S.IN_PROGRESS, t[7]),
        (S.COMPLETED, t[8]),  # the event took place: it stays
    ]
    messages = invitation_messages(history)
    assert [(m.method, m.sequence, m.stamped_at) if m else None for m in messages] == [
        None,
        (CalendarMethod.REQUEST, 0, t[1]),
        (CalendarMethod.REQUEST, 1, t[2]),
        (CalendarMethod.CANCEL, 2, t[3]),
        None,
        (CalendarMethod.REQUEST, 3, t[5]),
        None,
        None,
        None,
    ]
    assert latest_invitation(history) == messages[5]


@pytest.mark.parametrize("withdrawal", [S.CANCELLED, S.NEW_VERSION_REQUESTED, S.PENDING_INPUT, S.DEFERRED])
def test_each_withdrawal_cancels_a_live_invitation_but_not_an_unsent_one(withdrawal):
    assert invitation_messages([(S.TO_BE_SCHEDULED, NOW), (withdrawal, NOW)]) == [None, None]
    sent = invitation_messages([(S.SCHEDULED, NOW), (withdrawal, NOW + HOUR)])[1]
    assert sent is not None and (sent.method, sent.sequence) == (CalendarMethod.CANCEL, 1)


# --------------------------------------------------------------------- who is told


def test_notify_defaults_per_role():
    assert effective_notify(Role.TECHNICAL_CONTACT, None) is NotifyPreference.ALL_MY_DISTRICTS
    for role in (Role.STATE_CONTACT, Role.CONSORTIUM_CONTACT, Role.PARTNER, Role.ESA):
        assert effective_notify(role, None) is NotifyPreference.MY_REQUESTS
    assert effective_notify(Role.HOSTING_STAFF, None) is NotifyPreference.NONE
    assert set(DEFAULT_NOTIFY) == set(Role)
    assert (
        effective_notify(Role.HOSTING_STAFF, NotifyPreference.ALL_MY_DISTRICTS)
        is NotifyPreference.ALL_MY_DISTRICTS
    )


@pytest.mark.parametrize(
    ("preference", "linked", "is_requester", "told"),
    [
        (NotifyPreference.ALL_MY_DISTRICTS, True, False, True),
        (NotifyPreference.ALL_MY_DISTRICTS, False, False, False),
        (NotifyPreference.MY_REQUESTS, True, True, True),
        (NotifyPreference.MY_REQUESTS, True, False, False),
        (NotifyPreference.MY_REQUESTS, False, True, False),  # no longer sees the district
        (NotifyPreference.NONE, True, True, False),
    ],
)
def test_wants_notice(preference, linked, is_requester, told):
    assert wants_notice(preference, linked=linked, is_requester=is_requester) is told


def test_giving_up_work_that_never_began_withdraws_its_invitation_but_not_work_that_ran():
    """Staff (or the system, attempts spent) giving up a dispatched request that never began: the
    maintenance will not take place, so its invitation is cancelled like any withdrawal. Work that
    began keeps its event, as a completed one does: it did take place, and failed."""
    never_began = [(S.SCHEDULED, NOW), (S.NOT_STARTED, NOW + HOUR), (S.UNABLE_TO_COMPLETE, NOW + 2 * HOUR)]
    given_up = invitation_messages(never_began)[-1]
    assert given_up is not None and (given_up.method, given_up.sequence) == (CalendarMethod.CANCEL, 1)
    ran = [*never_began[:2], (S.IN_PROGRESS, NOW + HOUR), (S.UNABLE_TO_COMPLETE, NOW + 2 * HOUR)]
    assert invitation_messages(ran)[-1] is None
    # Retried after it ran and failed, then given up before beginning again: that invitation goes.
    retried = [*ran, (S.TO_BE_SCHEDULED, NOW + 3 * HOUR), *never_began]
    assert [m.method if m else None for m in invitation_messages(retried)][-3:] == [
        CalendarMethod.REQUEST,
        None,
        CalendarMethod.CANCEL,
    ]
