"""The webhook delivery job: attempt an endpoint's due deliveries in order, then say when to come
back. The dramatiq actor and the embedded queue both run `run_webhook_job`; the scheduler's pass
re-enqueues endpoints whose job was lost (`sweep_webhooks`).

One job works through one endpoint: POST the head delivery (signed, `infra.outbound`), record the
outcome, go on with the next. A retry due within `MAX_REQUEUE_DELAY` is a delayed job; a longer
wait is left to the sweep, so no worker holds a message for hours.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Protocol

from infra.metrics import STAFF_ALERTS, WEBHOOK_ATTEMPTS, WEBHOOK_LAG
from infra.outbound import post_pinned
from infra.settings import Settings
from models.clock import utcnow
from models.webhooks.attempts import Claimed, Idle, claim_next, record_outcome, stalled_webhooks
from models.webhooks.retries import AttemptOutcome, Verdict, claim_lease
from models.webhooks.signing import delivery_headers

logger = logging.getLogger(__name__)

#: Attempts one job makes before it hands over to a fresh job (other endpoints get their turn).
MAX_ATTEMPTS_PER_JOB = 50
#: How long one job may run (its actor's time limit, `workers.actors`): past it the worker cancels
#: the job, mid-attempt maybe.
JOB_TIME_LIMIT = timedelta(minutes=15)
#: The part of a job's time its attempts may fill at their own time limit; the rest is room for
#: claiming them and recording what came of them.
ATTEMPTS_SHARE = 2 / 3
#: Longest wait a job re-enqueues itself for; later retries are found by the sweep.
MAX_REQUEUE_DELAY = timedelta(minutes=5)
#: A due delivery untouched this long has lost its job; the sweep enqueues its endpoint again.
SWEEP_GRACE = timedelta(seconds=10)
SWEEP_BATCH = 200

#: One POST: (url, body, headers) -> outcome.
Post = Callable[[str, bytes, Mapping[str, str]], Awaitable[AttemptOutcome]]
Clock = Callable[[], datetime]


class WebhookQueue(Protocol):
    async def enqueue_webhook(self, webhook_id: int, delay: float = 0.0) -> None: ...


def attempts_per_job(timeout_seconds: float) -> int:
    """The attempts one job makes: MAX_ATTEMPTS_PER_JOB, fewer when that many answered just within
    their time limit (UPDATEDESK_WEBHOOK_TIMEOUT_SECONDS) would run the job past its own. A job
    cancelled mid-attempt leaves an attempt that may have been answered logged as lost, and its
    event sent again."""
    fits = int(JOB_TIME_LIMIT.total_seconds() * ATTEMPTS_SHARE // timeout_seconds)
    return max(1, min(MAX_ATTEMPTS_PER_JOB, fits))


def job_time_limit(timeout_seconds: float) -> timedelta:
    """The time limit of one job: JOB_TIME_LIMIT, longer only when even one attempt would not fit."""
    return max(JOB_TIME_LIMIT, timedelta(seconds=timeout_seconds / ATTEMPTS_SHARE))


def default_post(settings: Settings) -> Post:
    return partial(
        post_pinned, allow_private=settings.webhook_allow_private, time_limit=settings.webhook_timeout_seconds
    )


async def attempt(claimed: Claimed, post: Post) -> AttemptOutcome:
    """One signed POST of the claimed delivery (fresh signature time, the stored body)."""
    delivery = claimed.delivery
    body = delivery.body.encode("utf-8")
    headers = delivery_headers(
        claimed.webhook.secret,
        body,
        event_type=delivery.event_type.value,
        delivery_uid=delivery.uid,
        timestamp=int(claimed.at.timestamp()),
    )
    return await post(claimed.webhook.url, body, headers)


async def deliver_webhook(
    webhook_id: int, settings: Settings, *, clock: Clock = utcnow, post: Post | None = None
) -> datetime | None:
    """Attempt the endpoint's due deliveries in order. Returns when to come back (None: nothing
    waits, or another worker's attempt is in flight)."""
    send = post or default_post(settings)
    lease = claim_lease(settings.webhook_timeout_seconds)
    for _ in range(attempts_per_job(settings.webhook_timeout_seconds)):
        step = await claim_next(
            webhook_id,
            clock(),
            lease,
            retry_seconds=settings.webhook_retry_seconds,
            staff_alert_email=settings.staff_alert_email or None,
        )
        if isinstance(step, Idle):
            staff_alert(step.alert)
            return step.until
        outcome = await attempt(step, send)
        recorded = await record_outcome(
            step, outcome, clock(), settings.webhook_retry_seconds, settings.staff_alert_email or None
        )
        WEBHOOK_ATTEMPTS.labels(recorded.verdict.value).inc()
        if recorded.verdict is Verdict.DELIVERED:
            WEBHOOK_LAG.observe(max((clock() - step.delivery.created_at).total_seconds(), 0.0))
        else:
            logger.info(
                "webhook %s: delivery %s attempt %s failed (%s); %s",
                webhook_id,
                step.delivery.uid,
                step.attempt,
                outcome.error or outcome.status_code,
                f"retry at {recorded.retry_at.isoformat()}" if recorded.retry_at else "given up",
            )
        if recorded.alert is not None:
            staff_alert(recorded.alert)
            return None
    return clock()


def staff_alert(alert: str | None) -> None:
    """A failing webhook is a hosting-team alert like the others: always logged and counted."""
    if alert is not None:
        STAFF_ALERTS.labels("webhook_deactivated").inc()
        logger.error("staff alert (webhook_deactivated): %s", alert)


async def run_webhook_job(
    webhook_id: int,
    settings: Settings,
    queue: WebhookQueue,
    *,
    clock: Clock = utcnow,
    post: Post | None = None,
) -> None:
    """The job: deliver, then enqueue a follow-up job when one is due soon."""
    until = await deliver_webhook(webhook_id, settings, clock=clock, post=post)
    if until is None:
        return
    wait = until - clock()
    if wait <= MAX_REQUEUE_DELAY:
        await queue.enqueue_webhook(webhook_id, max(wait.total_seconds(), 0.0))


async def sweep_webhooks(queue: WebhookQueue, now: datetime | None = None) -> list[int]:
    """Enqueue the endpoints whose due deliveries no job has taken; returns their ids."""
    cutoff = (now or utcnow()) - SWEEP_GRACE
    ids = await stalled_webhooks(cutoff, SWEEP_BATCH)
    for webhook_id in ids:
        await queue.enqueue_webhook(webhook_id)
    return ids
