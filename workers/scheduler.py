"""The dispatch loop: due SCHEDULED requests go to NOT_STARTED (compare-and-set, so several
schedulers never dispatch one request twice, nor two requests on one site) and their jobs are
enqueued; requests whose lease lapsed are enqueued again, or given up once their attempts are
spent, which the hosting team is told of (mailed to UPDATEDESK_STAFF_ALERT_EMAIL when set, always
logged and counted in updatedesk_staff_alerts_total); lost mail and webhook jobs are enqueued again,
and moves whose event record never reached the stream are announced again (`workers.announcements`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import cast

from tortoise.expressions import Q

from infra.metrics import STAFF_ALERTS
from infra.settings import Settings
from models.clock import utcnow
from models.enums import NotificationState, UpdateStatus
from models.events import UpdateRequestChanged, add_event_sink, remove_event_sink
from models.requests import dispatch, leases
from models.rollouts import budget
from models.running import DISPATCH_WAKES
from models.tables import Notification
from workers.announcements import Reannouncer
from workers.mail import RETRY_LOST_AFTER, SENDING_STALE_AFTER
from workers.queue import JobQueue
from workers.webhooks import sweep_webhooks

logger = logging.getLogger(__name__)

#: Due requests read per page of one pass; a pass goes through every due request once.
DISPATCH_BATCH = 100
#: A site came free: a request may be waiting for it, but most are not, and a busy worker frees one
#: per finished request. Those wakes are gathered for this long into one pass (a scheduled
#: request wakes the scheduler at once).
SITE_FREED_GATHER_SECONDS = 0.05
FREED = DISPATCH_WAKES[UpdateStatus.COMPLETED]
#: An outbox mail never attempted this long after it was written lost its job (say the process
#: died between commit and enqueue): enqueue it again. The mail actor's claim stops a double send.
OUTBOX_STALE_SECONDS = 120
OUTBOX_SWEEP_BATCH = 200
#: Shortest sleep until a due time (a timer can fire a hair early; never a busy loop).
MIN_DUE_SLEEP = 0.001
#: The sweeps (lapsed leases, lost mail and webhook jobs) look for work that is late by tens of
#: seconds at least: a pass woken by an event sweeps only when the last sweep is this old, so a
#: busy scheduler (one wake per finished request) does not repeat three queries per request.
SWEEP_EVERY_SECONDS = 1.0


async def dispatch_pass(
    queue: JobQueue, settings: Settings, now: datetime | None = None, *, sweep: bool = True
) -> list[int]:
    """One pass: halt group rollouts over their error budget; dispatch and enqueue everything due;
    with `sweep`, reclaim lapsed leases and enqueue lost mail and webhook jobs again. Returns
    enqueued ids."""
    policy = settings.run_policy
    await rollout_pass(settings, now)
    enqueued: list[int] = []
    async for won in dispatch.dispatch_pages(now, DISPATCH_BATCH, policy):
        for request_id in won:
            await queue.enqueue_update_request(request_id)
        enqueued.extend(won)
    if sweep:
        enqueued.extend(await reclaim_pass(queue, settings, now))
        await sweep_outbox(queue, now)
        await sweep_webhooks(queue, now)
    return enqueued


async def reclaim_pass(queue: JobQueue, settings: Settings, now: datetime | None = None) -> list[int]:
    """Lapsed leases: enqueue the job again, or (attempts spent) give the request up. Returns the
    ids enqueued again."""
    policy = settings.run_policy
    requeued: list[int] = []
    for request_id in await leases.release_abandoned(now):
        logger.warning("update request %s: its stopped job left the site held; released", request_id)
    refused: Exception | None = None
    for item in await leases.reclaim_lapsed(policy, now):
        if item.outcome is leases.Reclaim.REQUEUED:
            if refused is None:
                try:
                    await queue.enqueue_update_request(item.request_id)
                except Exception as error:
                    refused = error
            if refused is not None:
                # The broker refused a job (Redis away, each try may wait out its timeout): that
                # job does not exist, and this pass tries no more. Each re-enqueue not made is
                # undone, for the next pass to make at once rather than a doubled lease later.
                logger.error("update request %s: not enqueued again: %r", item.request_id, refused)
                await leases.requeue_failed(item, now)
                continue
            logger.warning(
                "update request %s: lease lapsed (%s, %s jobs began it); enqueued again",
                item.request_id,
                item.status.value,
                item.attempts,
            )
            requeued.append(item.request_id)
            if item.alert:
                await leases.alert_staff(item.request_id, item.alert, policy)
        if item.alert:
            staff_alert(
                "job_not_begun" if item.outcome is leases.Reclaim.REQUEUED else "given_up", item.alert
            )
    if refused is not None:
        raise refused  # the pass failed: its caller logs it, and no heartbeat hides it
    return requeued


async def rollout_pass(settings: Settings, now: datetime | None = None) -> list[int]:
    """Group rollouts whose error budget is spent halt (before dispatch: the pass starts nothing
    of them); the hosting team is told. Returns the halted rollouts' ids."""
    halted = await budget.halt_overspent(settings.run_policy, now)
    for item in halted:
        staff_alert("rollout_halted", item.alert)
    return [item.rollout_id for item in halted]


def staff_alert(reason: str, text: str) -> None:
    """Every alert for the hosting team is logged and counted, mailed or not."""
    STAFF_ALERTS.labels(reason).inc()
    logger.error("staff alert (%s): %s", reason, text)


async def sweep_outbox(queue: JobQueue, now: datetime | None = None) -> list[int]:
    """Enqueue again the outbox mails whose job was lost (never tried, left SENDING by a worker
    that died mid-send, or tried and then not retried: its job gave up with attempts left);
    returns their ids."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=OUTBOX_STALE_SECONDS)
    stale = (
        await Notification.filter(
            Q(state=NotificationState.PENDING, attempts=0, created_at__lt=cutoff)
            | Q(state=NotificationState.PENDING, attempts__gt=0, claimed_at__lt=now - RETRY_LOST_AFTER)
            | Q(state=NotificationState.SENDING, claimed_at__lt=now - SENDING_STALE_AFTER)
        )
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


async def seconds_to_next_start(interval: float, now: datetime | None = None) -> float:
    """How long the loop may sleep: until the next SCHEDULED request falls due when that is sooner
    than `interval` (so a request scheduled a few seconds ahead starts on time, not on the next
    poll), else `interval`, the fallback poll."""
    now = now or utcnow()
    start = await dispatch.next_start_after(now)
    if start is None:
        return interval
    return min(interval, max(MIN_DUE_SLEEP, (start - now).total_seconds()))


class Scheduler:
    """Runs ``dispatch_pass`` at once after ``wake()`` (a request became SCHEDULED, or a site came
    free), when the next scheduled start falls due, and at the latest every ``scheduler_interval``
    seconds (the fallback poll). Its sweeps run at most every ``SWEEP_EVERY_SECONDS``; a pass that
    skipped them sleeps no longer than until they are due."""

    def __init__(
        self,
        queue: JobQueue,
        settings: Settings,
        on_pass: Callable[[], None] | None = None,
        *,
        reannouncer: Reannouncer | None = None,
    ) -> None:
        self.queue = queue
        self.settings = settings
        #: Announces, in each sweep, the moves whose record never reached the event stream.
        self.reannouncer = reannouncer
        #: Called after each pass that succeeded (the scheduler process's liveness heartbeat).
        self.on_pass = on_pass
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._gathering: asyncio.TimerHandle | None = None
        self.passes = 0
        self.sweeps = 0
        self._last_sweep: float | None = None

    def wake(self) -> None:
        self._wake.set()

    def wake_for(self, status: UpdateStatus) -> None:
        """Wake for an event that moved a request to `status` (see `signal`)."""
        signal = DISPATCH_WAKES.get(status)
        if signal is not None:
            self.signal(signal)

    def signal(self, signal: str) -> None:
        """A `models.running.DISPATCH_WAKES` signal: "scheduled" wakes at once; "freed" (a site
        came free) after SITE_FREED_GATHER_SECONDS, one pass for all sites freed meanwhile."""
        if signal != FREED:
            self.wake()
        elif self._gathering is None:
            self._gathering = asyncio.get_running_loop().call_later(SITE_FREED_GATHER_SECONDS, self._gathered)

    def _gathered(self) -> None:
        self._gathering = None
        self.wake()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._gathering is not None:
            self._gathering.cancel()
            self._gathering = None

    def _sweep_in(self) -> float:
        """Seconds until the sweeps are due (0: now)."""
        if self._last_sweep is None:
            return 0.0
        return max(0.0, self._last_sweep + SWEEP_EVERY_SECONDS - time.monotonic())

    async def run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            sleep = self.settings.scheduler_interval
            sweep = self._sweep_in() == 0.0
            try:
                if sweep:
                    self._last_sweep = time.monotonic()
                    self.sweeps += 1
                await dispatch_pass(self.queue, self.settings, sweep=sweep)
                if sweep:
                    await self._reannounce()
                sleep = await seconds_to_next_start(sleep)
                if not sweep:
                    sleep = min(sleep, max(MIN_DUE_SLEEP, self._sweep_in()))
            except Exception:
                logger.exception("scheduler: dispatch pass failed; trying again next interval")
            else:
                if self.on_pass is not None:
                    self.on_pass()
            self.passes += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), sleep)

    async def _reannounce(self) -> None:
        if self.reannouncer is None:
            return
        try:
            await self.reannouncer.sweep()
        except Exception:  # the stream or the database is away: dispatching goes on regardless
            logger.exception("scheduler: could not look for moves missing from the event stream")

    def install_wake_sink(self) -> Callable[[], None]:
        """Wake for every request that becomes SCHEDULED in this process (staff scheduling "now",
        the automatic sandbox update) or stops running (its site is free for the next request), so
        it need not wait for the next interval."""

        async def on_event(event: UpdateRequestChanged) -> None:
            self.wake_for(event.status)

        add_event_sink(on_event)
        return lambda: remove_event_sink(on_event)
