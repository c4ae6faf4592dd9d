"""Reading the event stream: the small API that live subscriptions and webhook deliveries share.

- ``EventStream``: what a stream answers (`RedisStream`, or `MemoryStream` in the embedded
  default): records after an id, new records (waiting for them), whether a record is still kept.
- ``follow(stream, after)``: every record after `after`, in stream order, then each new one as
  it comes, in batches; reconnects by itself after a Redis outage and then yields a ``Gap``
  ("records written while the stream was unreachable may be missing": reload from the database).
  It also notices a stream replaced under it (Redis lost its data, or the key was deleted, and
  the new stream's ids sort before its position): it reads the new one from its start, then
  yields a ``Gap("stream_replaced")``.

A stream replaced under the reader is seen by its last generated id (`last_generated_id`): the
same stream never gives an id below one it gave, so a position ahead of it (or a stream that is
gone) was read from another stream. The reader looks only when a waiting read timed out with
nothing new (at most once per `READ_BLOCK_SECONDS`, never between a record's append and its
read) and before its first read after a reconnect: a new stream whose ids sort before the
position is exactly what keeps a waiting read empty. One whose ids sort after it is simply read
on (nothing the reader had not read was lost with the old one).

Retention: a record is kept while it is younger than ``RETAIN_SECONDS`` or among the newest
``RETAIN_ENTRIES`` (whichever keeps more). A cursor whose record is no longer kept cannot resume
exactly (``retains`` says so): its reader starts again from the database.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from redis.exceptions import RedisError

from infra.bus.fanout import Gap
from infra.bus.records import STREAM_START, EventRecord, id_key

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

    async def last_generated_id(self) -> str | None:
        """The id the stream gave last, its record kept or not (trimmed or deleted since); None
        when there is no stream (never written, or lost)."""
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
    #: Looks at whether the stream is still the one the position came from, and how many found
    #: it replaced (then reading began again at its start).
    stream_checks: int = 0
    streams_replaced: int = 0


def stream_replaced(position: str, last_generated: str | None) -> bool:
    """Whether a stream whose last generated id is `last_generated` cannot be the one `position`
    was read from: it is gone, or its ids went back below the position."""
    if id_key(position) == id_key(STREAM_START):
        return False  # nothing read yet: any stream under the key is the one to read
    return last_generated is None or id_key(last_generated) < id_key(position)


async def follow(
    stream: EventStream,
    after: str | None = None,
    *,
    count: int = READ_BATCH,
    block: float = READ_BLOCK_SECONDS,
    state: FollowState | None = None,
) -> AsyncGenerator[list[EventRecord] | Gap, None]:
    """Batches of records after `after` (None: from the newest record on), forever.

    After an outage the records written since come first, then one ``Gap(since=<loss>)``. After
    the stream was replaced (see the module's docstring), the new stream's records from its
    start, then one ``Gap("stream_replaced", since=<when the old one was last seen>)``."""
    state = state or FollowState()
    backoff = RECONNECT_BACKOFF_MIN
    lost_at: datetime | None = None
    #: A replaced stream found while reading: its gap comes once the new stream is read.
    replaced_gap: Gap | None = None
    unchecked_since_loss = False
    #: When (epoch seconds) the stream was last seen to be the one the position came from: it
    #: gave records, or a look found it so (a float here: taken once per batch read).
    seen_at = time.time()
    position = after
    if after is not None:
        state.start = after

    async def check() -> bool:
        """Whether the stream was replaced; if so, read the new one from its start."""
        nonlocal position, seen_at
        assert position is not None
        state.stream_checks += 1
        if not stream_replaced(position, await stream.last_generated_id()):
            seen_at = time.time()
            return False
        logger.warning(
            "event stream: the stream no longer holds position %s (Redis lost its data, or the key "
            "was deleted); reading the new stream from its start",
            position,
        )
        state.streams_replaced += 1
        position = state.position = STREAM_START
        return True

    while True:
        try:
            if position is None:
                position = await stream.last_id() or STREAM_START
                state.position = state.start = position
            if unchecked_since_loss:
                await check()  # back after a loss: is it the stream we followed?
                unchecked_since_loss = False
            waiting = lost_at is None and replaced_gap is None
            records = await stream.read_new(position, count, block if waiting else 0)
            # Nothing new for a whole block: a replaced stream with lower ids looks just so.
            if not records and waiting and block > 0 and await check():
                replaced_gap = Gap("stream_replaced", since=datetime.fromtimestamp(seen_at, UTC))
                continue
        except (RedisError, OSError) as error:
            if cancel_pending():
                # redis-py can turn a cancel that lands mid-read into a connection or timeout
                # error; retrying would swallow it and the reader's owner would wait forever.
                raise asyncio.CancelledError from error
            state.listening.clear()
            unchecked_since_loss = True
            if lost_at is None:
                lost_at = datetime.now(UTC)
                if replaced_gap is not None and replaced_gap.since is not None:
                    lost_at = min(lost_at, replaced_gap.since)  # one gap, from the earlier loss
            state.reconnect_attempts += 1
            logger.warning("event stream: read failed (%s); retrying in %.1fs", error, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, RECONNECT_BACKOFF_MAX)
            continue
        backoff = RECONNECT_BACKOFF_MIN
        state.listening.set()
        if records:
            position = records[-1].id
            seen_at = time.time()
            state.position = position
            yield records
            if len(records) == count:
                continue
        if lost_at is not None and len(records) < count:
            # Caught up with what was written while away; what was lost meanwhile is a gap.
            state.reconnects += 1
            logger.info("event stream: reading again after an outage since %s", lost_at.isoformat())
            gap, lost_at, replaced_gap = Gap("reconnected", since=lost_at), None, None
            yield gap
        elif replaced_gap is not None and len(records) < count:
            gap, replaced_gap = replaced_gap, None
            yield gap
