"""Retry a database operation while the database is not up yet (`updatedesk migrate --wait`).

Only errors that mean "not reachable yet" are retried: the address refuses or does not resolve yet
(a container still starting), or the server says it is starting up or full. A wrong password or a
missing database fails at once, since waiting cannot fix it.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

#: PostgreSQL SQLSTATEs worth waiting out: shutting down, crashed, starting up, too many connections.
TRANSIENT_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})
#: Backoff between attempts: the first delay, doubled after each attempt up to the last.
FIRST_DELAY = 0.5
MAX_DELAY = 5.0

#: Told (attempt number, error, seconds until the next attempt) before each wait.
OnRetry = Callable[[int, BaseException, float], None]


class DatabaseUnreachable(Exception):
    """The database was still unreachable when the wait ran out."""

    def __init__(self, waited: float, attempts: int, error: BaseException) -> None:
        super().__init__(
            f"database not reachable after {waited:.0f} s and {attempts} attempt(s): {describe(error)}"
        )
        self.error = error


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def say_waiting(attempts: int, error: BaseException, pause: float) -> None:
    """An `OnRetry` that tells stderr, one line per wait."""
    print(
        f"updatedesk: database not reachable yet ({describe(error)}); retrying in {pause:.1f} s",
        file=sys.stderr,
        flush=True,
    )


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def is_transient_connection_error(error: BaseException) -> bool:
    """True when `error` (or what it wraps) says the database cannot be reached *yet*."""
    chain = _chain(error)
    # A server that answered decides: its SQLSTATE tells "starting up" from "no such database".
    states = [state for e in chain if isinstance(state := getattr(e, "sqlstate", None), str)]
    if states:
        return any(state in TRANSIENT_SQLSTATES for state in states)
    return any(isinstance(e, OSError) for e in chain)  # refused, unresolvable, timed out


async def retry_until_reachable(
    attempt: Callable[[], Awaitable[T]],
    wait_seconds: float,
    *,
    on_retry: OnRetry | None = None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Run `attempt` until it succeeds, retrying transient connection errors with backoff for up
    to `wait_seconds`; then raise `DatabaseUnreachable`. Other errors propagate at once."""
    started = clock()
    delay = FIRST_DELAY
    attempts = 0
    while True:
        attempts += 1
        try:
            return await attempt()
        except Exception as error:
            if not is_transient_connection_error(error):
                raise
            left = started + wait_seconds - clock()
            if left <= 0:
                raise DatabaseUnreachable(clock() - started, attempts, error) from error
            pause = min(delay, left)
            if on_retry is not None:
                on_retry(attempts, error, pause)
            await sleep(pause)
            delay = min(delay * 2, MAX_DELAY)
