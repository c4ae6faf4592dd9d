"""Moves (and deletes) whose announcement never reached the event stream, announced again by the
scheduler.

A move's record is appended after its commit; when that append is lost (the process died in
between, or its writer could not reach Redis while every reader could), nothing else tells the
subscribers or the webhook dispatcher: their readers saw no outage, and no later record of the
request may come for hours. So the scheduler, in its sweeps, looks at the requests changed since
its last look (once they are `SETTLE_SECONDS` old: their own writer had every chance) and
appends the record of each latest move the stream never took (`StreamBus.announce_missing`), and
of each delete: a lost REMOVED left a finished request on every live list. The look-back covers
what changed while no scheduler ran, up to `LOOKBACK_SECONDS`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from infra.bus import EventBus, EventRecord
from infra.metrics import EVENTS_REANNOUNCED
from models.clock import utcnow
from models.requests.announced import ANNOUNCED_BATCH, Position, deleted_between, moved_between

logger = logging.getLogger(__name__)

#: A move is looked at once it is this old: its writer's append, with its retries and its wait
#: for a predecessor (`infra.bus.ordering.HOLD_SECONDS`), is over by then.
SETTLE_SECONDS = 15.0
#: How far back the first look of a scheduler goes (changes made while none ran).
LOOKBACK_SECONDS = 3600.0
#: Each look starts this much before where the last one ended: the processes stamping
#: `updated_at` do not share one clock. A move looked at twice is appended once at most.
CLOCK_MARGIN_SECONDS = 5.0


class Reannouncer:
    """Keeps where it last looked; `sweep()` looks on from there."""

    def __init__(
        self, bus: EventBus, *, settle: float = SETTLE_SECONDS, lookback: float = LOOKBACK_SECONDS
    ) -> None:
        self.bus = bus
        self.settle = timedelta(seconds=settle)
        self.lookback = timedelta(seconds=lookback)
        #: Changes up to this time were looked at (None: nothing yet).
        self.checked_until: datetime | None = None

    async def sweep(self, now: datetime | None = None, limit: int = ANNOUNCED_BATCH) -> list[EventRecord]:
        """Announce the lost moves and deletes of the requests changed since the last sweep (their
        records). Raises when the database or the stream cannot be read: the next sweep looks
        again."""
        until = (now or utcnow()) - self.settle
        start = until - self.lookback if self.checked_until is None else self.checked_until
        appended: list[EventRecord] = []
        for look in (moved_between, deleted_between):
            since: datetime | Position = start - timedelta(seconds=CLOCK_MARGIN_SECONDS)
            while True:
                events, cut_at = await look(since, until, limit)
                appended += await self.bus.announce_missing(events)
                if cut_at is None:
                    break
                since = cut_at
        self.checked_until = max(until, self.checked_until or until)
        for record in appended:
            event = record.event
            what = "was deleted" if event.is_delete else f"moved to {event.status.value}"
            logger.warning(
                "event stream: request %s %s (history %s) without its record reaching the stream; "
                "announced it now", event.update_request_id, what, event.sequence,
            )  # fmt: skip
        if appended:
            EVENTS_REANNOUNCED.inc(len(appended))
        return appended
