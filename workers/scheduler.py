"""The dispatch loop: due SCHEDULED requests go to NOT_STARTED (compare-and-set, so several
schedulers never dispatch one request twice) and their jobs are enqueued; NOT_STARTED requests
whose job was lost are enqueued again."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from models import operations
from models.enums import UpdateStatus
from models.events import UpdateRequestChanged, add_event_sink, remove_event_sink
from updatedesk.settings import Settings
from workers.queue import JobQueue

logger = logging.getLogger(__name__)

#: Requests claimed per query of one pass; a pass repeats until nothing is due.
DISPATCH_BATCH = 100
#: Bound on the batches of one pass, so one pass always ends.
MAX_BATCHES_PER_PASS = 100


async def dispatch_pass(queue: JobQueue, settings: Settings, now: datetime | None = None) -> list[int]:
    """One pass: dispatch and enqueue everything due; re-enqueue lost jobs. Returns enqueued ids."""
    enqueued: list[int] = []
    for _ in range(MAX_BATCHES_PER_PASS):
        won = await operations.dispatch_due(now, limit=DISPATCH_BATCH)
        for request_id in won:
            await queue.enqueue_update_request(request_id)
        enqueued.extend(won)
        if not won:
            break
    lost = await operations.reclaim_lost_jobs(timedelta(seconds=settings.lost_job_seconds), now)
    for request_id in lost:
        logger.warning("update request %s: job lost (NOT_STARTED too long); enqueued again", request_id)
        await queue.enqueue_update_request(request_id)
    return enqueued + lost


class Scheduler:
    """Runs ``dispatch_pass`` every ``scheduler_interval`` seconds, and at once after ``wake()``."""

    def __init__(self, queue: JobQueue, settings: Settings) -> None:
        self.queue = queue
        self.settings = settings
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
