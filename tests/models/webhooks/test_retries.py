"""Retry rules, pure, on an injected clock."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from models.webhooks.retries import (
    RETRY_WINDOW,
    Verdict,
    failed_too_long,
    next_attempt_at,
    retry_delay,
    verdict,
)

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (200, Verdict.DELIVERED),
        (204, Verdict.DELIVERED),
        (None, Verdict.RETRY),
        (500, Verdict.RETRY),
        (503, Verdict.RETRY),
        (408, Verdict.RETRY),
        (429, Verdict.RETRY),
        (400, Verdict.FINAL),
        (404, Verdict.FINAL),
        (410, Verdict.FINAL),
        (301, Verdict.FINAL),
        (302, Verdict.FINAL),
    ],
)
def test_what_an_answer_means(code: int | None, expected: Verdict) -> None:
    assert verdict(code) is expected


def test_backoff_starts_at_the_setting_and_doubles() -> None:
    assert [retry_delay(n, 30).total_seconds() for n in range(1, 6)] == [30, 60, 120, 240, 480]
    assert retry_delay(1, 0.5) == timedelta(seconds=0.5)


def test_retries_stop_after_24_hours_with_a_last_try_on_the_deadline() -> None:
    now, attempt, times = T0, 1, []
    while (retry := next_attempt_at(T0, attempt, now, 30)) is not None:
        times.append(retry)
        now, attempt = retry, attempt + 1
    assert times[0] == T0 + timedelta(seconds=30)
    assert times[-1] == T0 + RETRY_WINDOW
    assert all(b > a for a, b in itertools.pairwise(times))
    assert len(times) == 12  # 11 doubling waits (30 s ... 8.5 h, 17 h in all), then the deadline
    assert next_attempt_at(T0, 99, T0 + RETRY_WINDOW, 30) is None


def test_an_endpoint_is_deactivated_after_failing_24_hours() -> None:
    assert not failed_too_long(None, T0)
    assert not failed_too_long(T0, T0 + RETRY_WINDOW - timedelta(seconds=1))
    assert failed_too_long(T0, T0 + RETRY_WINDOW)
