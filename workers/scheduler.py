"""The dispatch loop: due SCHEDULED requests go to NOT_STARTED (compare-and-set, so several
schedulers never dispatch one request twice) and their jobs are enqueued; NOT_STARTED requests
whose job was lost are enqueued again, as are lost mail and webhook jobs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import cast

from infra.settings import Settings
from models.clock import utcnow
from models.enums import NotificationState, UpdateStatus
from models.events import UpdateRequestChanged, add_event_sink, remove_event_sink
from models.requests import dispatch
from models.tables import Notification
from workers.queue import JobQueue
from workers.webhooks import sweep_webhooks

logger = logging.getLogger(__name__)

#: Requests claimed per query of one pass; a pass repeats until nothing is due.
DISPATCH_BATCH = 100
#: Bound on the batches of one pass, so one pass always ends.
MAX_BATCHES_PER_PASS = 100
#: An outbox mail never attempted this long after it was written lost its job (say the process
#: died between commit and enqueue): enqueue it again. The mail actor's claim stops a double send.
OUTBOX_STALE_SECONDS = 120
OUTBOX_SWEEP_BATCH = 200


async def dispatch_pass(queue: JobQueue, settings: Settings, now: datetime | None = None) -> list[int]:
    """One pass: dispatch and enqueue everything due; re-enqueue lost jobs. Returns enqueued ids."""
    enqueued: list[int] = []
    for _ in range(MAX_BATCHES_PER_PASS):
        won = await dispatch.dispatch_due(now, limit=DISPATCH_BATCH)
        for request_id in won:
            await queue.enqueue_update_request(request_id)
        enqueued.extend(won)
        if not won:
            break
    lost = await dispatch.reclaim_lost_jobs(timedelta(seconds=settings.lost_job_seconds), now)
    for request_id in lost:
        logger.warning("update request %s: job lost (NOT_STARTED too long); enqueued again", request_id)
        await queue.enqueue_update_request(request_id)
    await sweep_outbox(queue, now)
    await sweep_webhooks(queue, now)
    return enqueued + lost


async def sweep_outbox(queue: JobQueue, now: datetime | None = None) -> list[int]:
    """Enqueue again the outbox mails whose job was lost; returns their ids."""
    cutoff = (now or utcnow()) - timedelta(seconds=OUTBOX_STALE_SECONDS)
    stale = (
        await Notification.filter(state=NotificationState.PENDING, attempts=0, created_at__lt=cutoff)
        .order_by("id")
        .limit(OUTBOX_SWEEP_BATCH)
        .values_list("id", flat=True)
    )
    ids = cast(list[int], list(stale))
    for notification_id in ids:
        await queue.enqueue_notification(notification_id)
    if ids:
        logger.warning("outbox: %d mails had lost their job; enqueued again", len(ids))
    return ids


class Scheduler:
    """Runs ``dispatch_pass`` every ``scheduler_interval`` seconds, and at once after ``wake()``."""

    def __init__(
        self, queue: JobQueue, settings: Settings, on_pass: Callable[[], None] | None = None
    ) -> None:
        self.queue = queue
        self.settings = settings
        #: Called after each pass that succeeded (the scheduler process's liveness heartbeat).
        self.on_pass = on_pass
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self.passes = 0

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    async def run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                await dispatch_pass(self.queue, self.settings)
            except Exception:
                logger.exception("scheduler: dispatch pass failed; trying again next interval")
            else:
                if self.on_pass is not None:
                    self.on_pass()
            self.passes += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.scheduler_interval)

    def install_wake_sink(self) -> Callable[[], None]:
        """Wake for every request that becomes SCHEDULED in this process (staff scheduling "now",
        the automatic sandbox update), so it need not wait for the next interval."""

        async def on_event(event: UpdateRequestChanged) -> None:
            if event.status is UpdateStatus.SCHEDULED:
                self.wake()

        add_event_sink(on_event)
        return lambda: remove_event_sink(on_event)
