"""Reading the event stream: the small API that live subscriptions and webhook deliveries share.

- ``EventStream``: what a stream answers (`RedisStream`, or `MemoryStream` in the embedded
  default): records after an id, new records (waiting for them), whether a record is still kept.
- ``follow(stream, after)``: every record after `after`, in stream order, then each new one as
  it comes, in batches; reconnects by itself after a Redis outage and then yields a ``Gap``
  ("records written while the stream was unreachable may be missing": reload from the database).

Retention: a record is kept while it is younger than ``RETAIN_SECONDS`` or among the newest
``RETAIN_ENTRIES`` (whichever keeps more). A cursor whose record is no longer kept cannot resume
exactly (``retains`` says so): its reader starts again from the database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from redis.exceptions import RedisError

from infra.bus.fanout import Gap
from infra.bus.records import STREAM_START, EventRecord

logger = logging.getLogger(__name__)

#: Records are kept while younger than this (seconds) ...
RETAIN_SECONDS = 24 * 3600
#: ... or while among this many newest ones.
RETAIN_ENTRIES = 100_000
#: Records read at once.
READ_BATCH = 500
#: A waiting read returns empty after this long (seconds): proof that the connection lives.
READ_BLOCK_SECONDS = 1.0
#: Reconnect backoff after a failed read (seconds): first wait and ceiling.
RECONNECT_BACKOFF_MIN = 0.1
RECONNECT_BACKOFF_MAX = 5.0


class EventStream(Protocol):
    async def read_after(self, after: str, count: int) -> list[EventRecord]:
        """Up to `count` kept records after the id `after`, oldest first (no waiting)."""
        ...

    async def read_new(self, after: str, count: int, block: float) -> list[EventRecord]:
        """Like `read_after`, but waits up to `block` seconds for a first one."""
        ...

    async def retains(self, record_id: str) -> bool:
        """Whether the record `record_id` is still kept (reading after it then misses nothing)."""
        ...

    async def last_id(self) -> str | None:
        """The newest record's id; None while the stream is empty."""
        ...


def cancel_pending() -> bool:
    """Whether the running task has been asked to stop (a cancel not yet taken back)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


@dataclass
class FollowState:
    """How a `follow` loop is doing (the bus shows it to /readyz and tests)."""

    listening: asyncio.Event = field(default_factory=asyncio.Event)
    #: Reads restored after a loss, and failed attempts.
    reconnects: int = 0
    reconnect_attempts: int = 0
    #: The last record id handed out (or the start position).
    position: str | None = None
    #: Where reading began: the records up to it are never handed out (set once known).
    start: str | None = None


async def follow(
    stream: EventStream,
    after: str | None = None,
    *,
    count: int = READ_BATCH,
    block: float = READ_BLOCK_SECONDS,
    state: FollowState | None = None,
) -> AsyncGenerator[list[EventRecord] | Gap, None]:
    """Batches of records after `after` (None: from the newest record on), forever.

    After an outage the records written since come first, then one ``Gap(since=<loss>)``."""
    state = state or FollowState()
    backoff = RECONNECT_BACKOFF_MIN
    lost_at: datetime | None = None
    position = after
    if after is not None:
        state.start = after
    while True:
        try:
            if position is None:
                position = await stream.last_id() or STREAM_START
                state.position = state.start = position
            records = await stream.read_new(position, count, 0 if lost_at is not None else block)
        except (RedisError, OSError) as error:
            if cancel_pending():
                # redis-py can turn a cancel that lands mid-read into a connection or timeout
                # error; retrying would swallow it and the reader's owner would wait forever.
                raise asyncio.CancelledError from error
            state.listening.clear()
            if lost_at is None:
                lost_at = datetime.now(UTC)
            state.reconnect_attempts += 1
            logger.warning("event stream: read failed (%s); retrying in %.1fs", error, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, RECONNECT_BACKOFF_MAX)
            continue
        backoff = RECONNECT_BACKOFF_MIN
        state.listening.set()
        if records:
            position = records[-1].id
            state.position = position
            yield records
            if len(records) == count:
                continue
        if lost_at is not None and len(records) < count:
            # Caught up with what was written while away; what was lost meanwhile is a gap.
            state.reconnects += 1
            logger.info("event stream: reading again after an outage since %s", lost_at.isoformat())
            gap, lost_at = Gap("reconnected", since=lost_at), None
            yield gap
