"""What an embedded process that died never fanned out to webhooks, replayed by the next start.

The embedded stream lives in the process's memory. A clean stop fans out what is left; a process
killed between a move's commit and its fan-out (up to a batch's wait) took those records with it,
and the next process's stream is new and empty: the scheduler's healing of lost records never
announces a request its stream does not know. So the embedded dispatcher also keeps, in the
database, the time before which every move was fanned out, and a start appends to its new stream
every move made since then (each request's in history order) and every delete, before its
dispatcher reads.
Delivery stays at least once: moves made within `MARGIN` before the death may be sent again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from infra.bus import STREAM_START, id_time
from infra.bus.memory import MemoryStream
from infra.bus.ordering import HOLD_SECONDS
from models.clock import utcnow
from models.events import UpdateRequestChanged
from models.requests.announced import Position, deleted_between, history_since
from models.webhooks.position import load_position, store_position
from workers.webhook_positions import MemoryPositions

logger = logging.getLogger(__name__)

#: Where a paged read goes on (a history row id; a delete's time and id).
Cursor = TypeVar("Cursor")

#: The `webhook_stream_position` row of the embedded dispatcher (a time, not a record id).
EMBEDDED_POSITION = "embedded:fanned-out-before"
#: A record is appended after its move's commit, held up to `HOLD_SECONDS` for its predecessor:
#: a move this much older than the last record fanned out may still have come after it.
MARGIN = timedelta(seconds=HOLD_SECONDS + 3.0)


class EmbeddedPositions(MemoryPositions):
    """The dispatcher's position in memory (the stream is there), and in the database the time
    before which every move was fanned out, for the next start."""

    async def store(self, record_id: str) -> None:
        await super().store(record_id)
        if record_id != STREAM_START:
            await store_position(EMBEDDED_POSITION, (id_time(record_id) - MARGIN).isoformat())

    async def stopped(self, now: datetime | None = None) -> None:
        """A clean stop fanned out everything: the next start replays nothing before now."""
        try:
            await store_position(EMBEDDED_POSITION, (now or utcnow()).isoformat())
        except Exception as error:  # the stop goes on; the next start may send some events again
            logger.warning("webhooks: could not record a clean stop (%s)", error)


async def replay_unfanned(stream: MemoryStream, now: datetime | None = None) -> int:
    """Append to `stream` (this process's new one) the records the last process may not have
    fanned out; how many. Nothing on a first start (no time stored)."""
    stored = await load_position(EMBEDDED_POSITION)
    if stored is None:
        return 0
    since, until = datetime.fromisoformat(stored), now or utcnow()
    # Every move, then the deletes (a REMOVED follows its request's last move).
    replayed = await _append_pages(stream, lambda after_id: history_since(since, after_id), 0)
    first_delete: datetime | Position = since
    replayed += await _append_pages(stream, lambda after: deleted_between(after, until), first_delete)
    if replayed:
        logger.warning(
            "webhooks: the last run stopped without fanning out its events since %s; its %d moves "
            "and deletes since then are delivered again now", since.isoformat(), replayed,
        )  # fmt: skip
    return replayed


async def _append_pages(
    stream: MemoryStream,
    page: Callable[[Cursor], Awaitable[tuple[list[UpdateRequestChanged], Cursor | None]]],
    start: Cursor,
) -> int:
    """Append every event of a paged read (`page(cursor)`: its events and where the next page
    starts, None after the last) to `stream`; how many."""
    appended, cursor = 0, start
    while True:
        events, following = await page(cursor)
        for event in events:
            await stream.append(event, force=True)
        appended += len(events)
        if following is None:
            return appended
        cursor = following
