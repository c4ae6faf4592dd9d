"""The rollout rules as plain functions, without a database."""

from __future__ import annotations

from collections import Counter

import pytest

from models.enums import EnvironmentKind, ErrorCode, RolloutStatus, UpdateStatus
from models.errors import DomainError
from models.rollouts.rules import (
    Action,
    check_action,
    check_input,
    is_skip,
    may_start,
    over_budget,
    rolled_up_status,
    wave_has_room,
)

R = RolloutStatus
S = UpdateStatus


@pytest.mark.parametrize(
    ("code", "skipped"),
    [
        (ErrorCode.VERSION_NOT_NEWER, True),
        (ErrorCode.DUPLICATE_REQUEST, True),
        (ErrorCode.ENVIRONMENT_UNAVAILABLE, True),
        (ErrorCode.UNKNOWN_VERSION, False),
        (ErrorCode.VALIDATION, False),
        (ErrorCode.GROUP_MANAGED, False),
    ],
)
def test_only_a_district_that_cannot_or_need_not_take_part_is_skipped(code, skipped):
    assert is_skip(DomainError(code, "why")) is skipped


def test_waves_and_budget():
    assert wave_has_room(2, 3) and not wave_has_room(3, 3)
    assert not over_budget(1, 1) and over_budget(2, 1)
    assert over_budget(1, 0)


def test_one_more_starts_only_while_running_with_room_and_budget():
    room = Counter({S.NOT_STARTED: 1, S.IN_PROGRESS: 1, S.COMPLETED: 9})
    assert may_start(R.RUNNING, room, wave_size=3, max_failures=1)
    full = room + Counter({S.IN_PROGRESS: 1})
    assert not may_start(R.RUNNING, full, wave_size=3, max_failures=1)
    failed = room + Counter({S.UNABLE_TO_COMPLETE: 2})
    assert not may_start(R.RUNNING, failed, wave_size=3, max_failures=1)
    # The counts leave out failures staff accepted: one failure left is within the budget.
    assert may_start(R.RUNNING, room + Counter({S.UNABLE_TO_COMPLETE: 1}), wave_size=3, max_failures=1)
    for stopped in (R.PAUSED, R.HALTED, R.CANCELLED):
        assert not may_start(stopped, Counter(), wave_size=3, max_failures=1)


def test_the_rolled_up_status():
    open_work = Counter({S.SCHEDULED: 1, S.COMPLETED: 2})
    done = Counter({S.COMPLETED: 2, S.UNABLE_TO_COMPLETE: 1, S.CANCELLED: 1})
    superseded = done + Counter({S.NEW_VERSION_REQUESTED: 1})
    assert rolled_up_status(R.RUNNING, open_work) is R.RUNNING
    assert rolled_up_status(R.PAUSED, open_work) is R.PAUSED
    assert rolled_up_status(R.RUNNING, done) is R.COMPLETED
    assert rolled_up_status(R.PAUSED, done) is R.COMPLETED
    assert rolled_up_status(R.RUNNING, Counter()) is R.COMPLETED  # every district skipped
    assert rolled_up_status(R.HALTED, done) is R.HALTED
    assert rolled_up_status(R.CANCELLED, open_work) is R.CANCELLED  # its running ones finish
    assert rolled_up_status(R.RUNNING, Counter({S.PENDING_INPUT: 1})) is R.RUNNING
    # Waiting under a newer request is not finished: it completes with it, or comes back.
    assert rolled_up_status(R.RUNNING, superseded) is R.RUNNING
    assert rolled_up_status(R.PAUSED, superseded) is R.PAUSED


@pytest.mark.parametrize(
    ("action", "allowed"),
    [
        (Action.PAUSE, {R.RUNNING}),
        (Action.RESUME, {R.PAUSED, R.HALTED}),
        (Action.CANCEL, {R.RUNNING, R.PAUSED, R.HALTED}),
    ],
)
def test_what_staff_may_do_from_which_status(action, allowed):
    for stored in (R.RUNNING, R.PAUSED, R.HALTED, R.CANCELLED):
        if stored in allowed:
            check_action(action, stored, stored)
        else:
            with pytest.raises(DomainError) as refused:
                check_action(action, stored, stored)
            assert refused.value.code is ErrorCode.INVALID_TRANSITION
            assert stored.value in refused.value.message
    with pytest.raises(DomainError, match="completed"):
        check_action(action, R.RUNNING, R.COMPLETED)


@pytest.mark.parametrize(
    ("environment", "wave", "failures", "field"),
    [
        (EnvironmentKind.SANDBOX, 5, 1, "environment"),
        (EnvironmentKind.PRODUCTION, 0, 1, "waveSize"),
        (EnvironmentKind.PRODUCTION, 1001, 1, "waveSize"),
        (EnvironmentKind.PRODUCTION, 5, -1, "maxFailures"),
    ],
)
def test_input_limits(environment, wave, failures, field):
    with pytest.raises(DomainError) as refused:
        check_input(environment, wave, failures)
    assert refused.value.code is ErrorCode.VALIDATION and refused.value.field == field


def test_input_within_limits():
    check_input(EnvironmentKind.STAGING, 1, 0)
    check_input(EnvironmentKind.PRODUCTION, 1000, 1000)
