"""Per request, records enter the stream in the order of the request's history, whichever process
writes them (the API's SCHEDULED before the scheduler's NOT_STARTED).

Each record carries the request's history sequence (`UpdateRequestChanged.sequence`). The stream
remembers the last sequence it took per request; a record that comes ahead of its predecessor
waits (its writer retries with a short backoff) until the predecessor is in, and after
`HOLD_SECONDS` goes in anyway, marked `replaced` (readers then show a SNAPSHOT: the database has
the truth, the lost record is healed). A record that comes after its successor is dropped.

`decide` is the rule, shared by the embedded stream and the Redis stream's script (which says the
same in Lua); `append_in_order` is the writer's waiting loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from enum import Enum

#: How long a record waits for its predecessor before it goes in as a replacement.
HOLD_SECONDS = 2.0
#: The writer's retry backoff while it waits: first pause and ceiling (seconds).
HOLD_RETRY_FIRST = 0.002
HOLD_RETRY_MAX = 0.05


class Order(Enum):
    APPEND = "append"  # in order (or nothing known about the request): goes in now
    WAIT = "wait"  # its predecessor is not in yet
    STALE = "stale"  # a later record of the request is in already: dropped


def decide(last: int | None, sequence: int, is_move: bool) -> Order:
    """Where a record with `sequence` stands when the stream's last move of its request is `last`.

    A move must follow the previous move directly; PROGRESS (and a delete) belong after the move
    with their sequence and before the next one."""
    if last is None:
        return Order.APPEND
    if is_move:
        if sequence <= last:
            return Order.STALE
        return Order.APPEND if sequence == last + 1 else Order.WAIT
    if sequence < last:
        return Order.STALE
    return Order.APPEND if sequence == last else Order.WAIT


AppendAttempt = Callable[[bool], Awaitable[tuple[Order, str | None]]]


async def append_in_order(attempt: AppendAttempt, hold: float = HOLD_SECONDS) -> str | None:
    """Call `attempt(force)` until the record is in or dropped; the id it got, or None if dropped.

    `attempt(False)` appends only in order; `attempt(True)` (once `hold` has passed) appends a
    record that still waits as a replacement."""
    deadline = time.monotonic() + hold
    pause = HOLD_RETRY_FIRST
    while True:
        force = time.monotonic() >= deadline
        order, record_id = await attempt(force)
        if order is not Order.WAIT:
            return record_id
        await asyncio.sleep(pause)
        pause = min(pause * 2, HOLD_RETRY_MAX)
