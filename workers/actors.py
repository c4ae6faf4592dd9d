"""The dramatiq actors: one runs a request's runbook, one sends an outbox mail, one delivers an
endpoint's webhooks.

All are thin: the work is in ``workers.runbooks.run_request``, ``workers.mail.deliver_notification``
and ``workers.webhooks.run_webhook_job``, which the embedded queue calls directly.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import dramatiq
import structlog
from dramatiq import Actor
from dramatiq.brokers.redis import RedisBroker

from infra.settings import Settings
from workers.errors import MailDeliveryError
from workers.job_lease import RunningJobs
from workers.mail import MAIL_MAX_ATTEMPTS, MAIL_MAX_BACKOFF, deliver_notification
from workers.runbooks import run_request
from workers.webhooks import job_time_limit, run_webhook_job

UPDATE_QUEUE = "updates"
MAIL_QUEUE = "mail"
#: A runbook retries its own steps; a delivery is retried only after an unexpected error (database
#: down...), and a redelivery resumes after the last checkpoint.
RUNBOOK_MAX_RETRIES = 5
RUNBOOK_MIN_BACKOFF_MS = 2_000
#: Each step has its own time limit (command_timeout_seconds); this only bounds a stuck job.
RUNBOOK_TIME_LIMIT_MS = 24 * 3600 * 1000
MAIL_MIN_BACKOFF_MS = 5_000
MAIL_MAX_BACKOFF_MS = int(MAIL_MAX_BACKOFF.total_seconds() * 1000)
MAIL_TIME_LIMIT_MS = 120_000
#: Retries of a mail job after a fault that is not the SMTP server's (database briefly down...).
MAIL_OTHER_FAULT_RETRIES = 3
WEBHOOK_QUEUE = "webhooks"
#: A webhook job retries deliveries through the database; dramatiq retries only a fault of ours.
WEBHOOK_MAX_RETRIES = 3


@dataclass(frozen=True)
class Actors:
    run_update_request: Actor[..., Any]
    send_notification: Actor[..., Any]
    deliver_webhook: Actor[..., Any]


def _mail_should_retry(retries: int, exception: Exception) -> bool:
    """An SMTP refusal is retried until the outbox row gives up; any other fault a few times."""
    limit = MAIL_MAX_ATTEMPTS if isinstance(exception, MailDeliveryError) else MAIL_OTHER_FAULT_RETRIES
    return retries < limit


def declare_actors(broker: RedisBroker, settings: Settings, jobs: RunningJobs | None = None) -> Actors:
    """Declare both actors on `broker`; their jobs use `settings` (executor, SMTP...). `jobs`: the
    worker process's running runbooks, which it hands back when it stops."""
    running = jobs or RunningJobs()

    # `request_id` is the id of the API request that caused the job, so its log lines carry it.
    async def run_update_request(request_id: int, caused_by: str | None = None) -> None:
        with structlog.contextvars.bound_contextvars(request_id=caused_by):
            await run_request(request_id, settings, jobs=running)

    async def send_notification(notification_id: int, caused_by: str | None = None) -> None:
        with structlog.contextvars.bound_contextvars(request_id=caused_by):
            await deliver_notification(notification_id, settings)

    class Requeue:
        """The webhook job's follow-up: the same actor, delayed."""

        async def enqueue_webhook(self, webhook_id: int, delay: float = 0.0) -> None:
            milliseconds = int(delay * 1000) if delay > 0 else None  # 0 would still mean "delayed"
            await asyncio.to_thread(webhook_actor.send_with_options, args=(webhook_id,), delay=milliseconds)

    async def deliver_webhook(webhook_id: int, caused_by: str | None = None) -> None:
        with structlog.contextvars.bound_contextvars(request_id=caused_by):
            await run_webhook_job(webhook_id, settings, Requeue())

    webhook_actor: Actor[..., Any] = dramatiq.actor(
        broker=broker,
        actor_name="deliver_webhook",
        queue_name=WEBHOOK_QUEUE,
        max_retries=WEBHOOK_MAX_RETRIES,
        # The attempts one job makes fit in it (`workers.webhooks.attempts_per_job`).
        time_limit=int(job_time_limit(settings.webhook_timeout_seconds).total_seconds() * 1000),
    )(deliver_webhook)
    return Actors(
        run_update_request=dramatiq.actor(
            broker=broker,
            actor_name="run_update_request",
            queue_name=UPDATE_QUEUE,
            max_retries=RUNBOOK_MAX_RETRIES,
            min_backoff=RUNBOOK_MIN_BACKOFF_MS,
            time_limit=RUNBOOK_TIME_LIMIT_MS,
        )(run_update_request),
        send_notification=dramatiq.actor(
            broker=broker,
            actor_name="send_notification",
            queue_name=MAIL_QUEUE,
            retry_when=_mail_should_retry,
            min_backoff=MAIL_MIN_BACKOFF_MS,
            max_backoff=MAIL_MAX_BACKOFF_MS,
            time_limit=MAIL_TIME_LIMIT_MS,
        )(send_notification),
        deliver_webhook=webhook_actor,
    )
