"""What an embedded process that died never fanned out to webhooks, replayed by the next start.

The embedded stream lives in the process's memory. A clean stop fans out what is left; a process
killed between a move's commit and its fan-out (up to a batch's wait) took those records with it,
and the next process's stream is new and empty: the scheduler's healing of lost records never
announces a request its stream does not know. So the embedded dispatcher also keeps, in the
database, the time before which every move was fanned out, and a start appends to its new stream
the latest move (and delete) of each request changed since then, before its dispatcher reads.
Delivery stays at least once: moves made within `MARGIN` before the death may be sent again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from infra.bus import STREAM_START, id_time
from infra.bus.memory import MemoryStream
from infra.bus.ordering import HOLD_SECONDS
from models.clock import utcnow
from models.requests.announced import Position, deleted_between, history_since
from models.webhooks.position import load_position, store_position
from workers.webhook_positions import MemoryPositions

logger = logging.getLogger(__name__)

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
    replayed, after_id = 0, 0
    while True:  # every move, then the deletes (a REMOVED follows its request's last move)
        events, cut_after = await history_since(since, after_id)
        for event in events:
            await stream.append(event, force=True)
        replayed += len(events)
        if cut_after is None:
            break
        after_id = cut_after
    after: datetime | Position = since
    while True:
        events, cut_at = await deleted_between(after, until)
        for event in events:
            await stream.append(event, force=True)
        replayed += len(events)
        if cut_at is None:
            break
        after = cut_at
    if replayed:
        logger.warning(
            "webhooks: the last run stopped without fanning out its events since %s; its %d moves "
            "and deletes since then are delivered again now", since.isoformat(), replayed,
        )  # fmt: skip
    return replayed
