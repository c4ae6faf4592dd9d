"""What an endpoint's answer means and when to try again. Pure: the clock is a parameter.

- 2xx: delivered. Timeouts, connection errors (a refused address too), 5xx, 408 and 429: tried
  again after `base` seconds, then after twice that, and so on, for 24 hours from the first
  attempt (the last try falls on the 24th hour); an attempt lost with its worker (no outcome
  recorded when its claim lapses) is a failed one, its wait counted from when it began. Any
  other answer (other 4xx, 3xx: redirects are not followed) is final for that event.
- An endpoint whose attempts have failed since 24 hours ago, with no success in between, is
  deactivated when a delivery is given up (a final answer, or its own 24 hours of retries spent):
  a failure before a quiet day does not cut the next event's retries short.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

RETRY_WINDOW = timedelta(hours=24)
DEFAULT_RETRY_SECONDS = 30.0
#: Whole-attempt time limit: resolve, connect, send, read the status line (default of
#: `UPDATEDESK_WEBHOOK_TIMEOUT_SECONDS`).
DELIVERY_TIMEOUT_SECONDS = 10.0
#: A claim outlives its attempt's time limit this many times over: room for recording the outcome.
CLAIM_LEASE_PER_TIMEOUT = 3


def claim_lease(timeout_seconds: float) -> timedelta:
    """How long a claimed attempt may go without a recorded outcome before it is taken as lost
    (its worker stopped): a failed attempt, made again (with the same delivery id) on the backoff."""
    return timedelta(seconds=timeout_seconds * CLAIM_LEASE_PER_TIMEOUT)


CLAIM_LEASE = claim_lease(DELIVERY_TIMEOUT_SECONDS)
RETRYABLE_STATUS_CODES = frozenset({408, 429})
MAX_ERROR_LENGTH = 500


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    FINAL = "final"


@dataclass(frozen=True)
class AttemptOutcome:
    """What one POST came to: the status code, or the error when there was no answer."""

    status_code: int | None
    error: str | None = None
    duration_ms: int | None = None


def verdict(status_code: int | None) -> Verdict:
    """None: no answer at all (timeout, connection error, refused address)."""
    if status_code is None:
        return Verdict.RETRY
    if 200 <= status_code < 300:
        return Verdict.DELIVERED
    if status_code >= 500 or status_code in RETRYABLE_STATUS_CODES:
        return Verdict.RETRY
    return Verdict.FINAL


def retry_delay(attempt: int, base_seconds: float) -> timedelta:
    """The wait after failed attempt number `attempt` (1, 2, ...): base, 2 x base, 4 x base..."""
    exponent = min(max(attempt - 1, 0), 40)  # past 2**40 x base every window is long gone
    return timedelta(seconds=base_seconds * 2**exponent)


def next_attempt_at(
    first_attempt_at: datetime, attempt: int, now: datetime, base_seconds: float
) -> datetime | None:
    """When to try again after failed attempt `attempt`; None once the 24 hours are over."""
    deadline = first_attempt_at + RETRY_WINDOW
    if now >= deadline:
        return None
    return min(now + retry_delay(attempt, base_seconds), deadline)


def failed_too_long(failing_since: datetime | None, now: datetime) -> bool:
    """Whether an endpoint failing since `failing_since` is to be deactivated."""
    return failing_since is not None and now - failing_since >= RETRY_WINDOW


def short_error(text: str) -> str:
    return text if len(text) <= MAX_ERROR_LENGTH else text[: MAX_ERROR_LENGTH - 1] + "…"
