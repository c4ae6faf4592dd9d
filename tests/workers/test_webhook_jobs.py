"""Webhook jobs on both queues: the embedded queue delivers and retries by itself, the dramatiq
queue sends the job (delayed for a retry) to the webhooks queue."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, cast

from dramatiq import Message
from dramatiq.brokers.stub import StubBroker

from infra.metrics import REGISTRY, refresh_webhook_gauges
from infra.settings import Settings
from models.clock import utcnow
from models.enums import WebhookDeliveryState
from models.tables import WebhookDelivery
from models.webhooks.fanout import fan_out
from models.webhooks.retries import AttemptOutcome
from tests import support
from tests.support_webhooks import (
    Clock,
    add_webhook,
    allow_private_settings,
    local_post,
    make_world,
    receiver,
    record_of,
)
from tests.workers.conftest import wait_until
from workers.actors import WEBHOOK_QUEUE, declare_actors
from workers.queue import DramatiqQueue
from workers.runtime import embedded_runtime
from workers.webhooks import deliver_webhook

WITHIN = 10.0


async def test_the_embedded_queue_delivers_and_retries_by_itself(db: support.TestDatabase) -> None:
    world = await make_world()
    settings = Settings(database_url=db.url, webhook_allow_private=True, webhook_retry_seconds=0.05)
    async with receiver(500, 200) as endpoint, embedded_runtime(settings, run_scheduler=False) as runtime:
        hook = await add_webhook(world.owner, endpoint.url())
        for webhook_id in await fan_out(record_of(world.own_request)):
            await runtime.queue.enqueue_webhook(webhook_id)
            await runtime.queue.enqueue_webhook(webhook_id)  # a second job for it changes nothing

        async def delivered() -> bool:
            delivery = await WebhookDelivery.get(webhook_id=hook.id)
            return delivery.state is WebhookDeliveryState.DELIVERED

        await wait_until(delivered, WITHIN, "the retried delivery")
    first, second = endpoint.requests
    assert first.headers["updatedesk-delivery"] == second.headers["updatedesk-delivery"]


async def test_the_dramatiq_queue_sends_webhook_jobs_delayed_for_retries() -> None:
    broker = StubBroker()
    queue = DramatiqQueue(declare_actors(cast(Any, broker), Settings()))
    await queue.enqueue_webhook(5)
    await queue.enqueue_webhook(6, 2.5)
    [now] = [Message.decode(m) for m in broker.queues[WEBHOOK_QUEUE].queue]
    [later] = [Message.decode(m) for m in broker.queues[f"{WEBHOOK_QUEUE}.DQ"].queue]
    assert (now.actor_name, now.args) == ("deliver_webhook", (5, None))
    assert (later.actor_name, later.args[0]) == ("deliver_webhook", 6)
    assert later.options["eta"] - later.message_timestamp >= 2500
    broker.close()


async def test_metrics_count_attempts_by_outcome_and_show_the_queue_lag(db: support.TestDatabase) -> None:
    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    world = await make_world()
    clock = Clock(utcnow())
    before = {o: sample("updatedesk_webhook_deliveries_total", outcome=o) for o in ("delivered", "retry")}
    lag_count = sample("updatedesk_webhook_delivery_lag_seconds_count")
    async with receiver(503) as endpoint:
        hook = await add_webhook(world.owner, endpoint.url())
        await fan_out(record_of(world.own_request), now=clock.now - timedelta(minutes=2))
        await refresh_webhook_gauges()
        assert sample("updatedesk_queue_depth", queue="webhooks") == 1
        assert sample("updatedesk_webhook_oldest_due_seconds") >= 120  # waiting since the fan-out
        retry_at = await deliver_webhook(hook.id, allow_private_settings(), clock=clock, post=local_post())
        assert retry_at is not None
        clock.to(retry_at)
        await deliver_webhook(hook.id, allow_private_settings(), clock=clock, post=local_post())
    await refresh_webhook_gauges()
    assert sample("updatedesk_queue_depth", queue="webhooks") == 0
    assert sample("updatedesk_webhook_oldest_due_seconds") == 0
    assert sample("updatedesk_webhook_deliveries_total", outcome="retry") == before["retry"] + 1
    assert sample("updatedesk_webhook_deliveries_total", outcome="delivered") == before["delivered"] + 1
    assert sample("updatedesk_webhook_delivery_lag_seconds_count") == lag_count + 1


async def test_a_job_starts_only_the_attempts_that_fit_in_its_time_limit(db: support.TestDatabase) -> None:
    """With UPDATEDESK_WEBHOOK_TIMEOUT_SECONDS at 60 and a backlog at an endpoint that answers
    each POST (slowly, within that limit), one job would otherwise run past the time limit its
    actor runs under: cancelled mid-attempt, it leaves an answered attempt logged as lost, and the
    event is sent again. A job hands over to the next before that, and the events still all go,
    in order."""
    settings = allow_private_settings(webhook_timeout_seconds=60)
    broker = StubBroker()
    actor = declare_actors(cast(Any, broker), settings).deliver_webhook
    job_limit = timedelta(milliseconds=actor.options["time_limit"])
    broker.close()
    world = await make_world()
    hook = await add_webhook(world.owner, "http://hooks.partner.test/hook")
    clock = Clock()
    cursors = []
    for _ in range(30):
        record = record_of(world.own_request)
        await fan_out(record, now=clock())
        cursors.append(record.cursor)
    sent: list[str] = []

    async def slow_success(url: str, body: bytes, headers: Mapping[str, str]) -> AttemptOutcome:
        sent.append(json.loads(body)["cursor"])
        clock.advance(seconds=settings.webhook_timeout_seconds - 1)  # answered just in time
        return AttemptOutcome(200, None, 59_000)

    jobs: list[int] = []
    while True:
        before = len(sent)
        come_back = await deliver_webhook(hook.id, settings, clock=clock, post=slow_success)
        jobs.append(len(sent) - before)
        if come_back is None:
            break
        assert come_back == clock()  # at once: a fresh job goes on with the rest
    assert all(n * timedelta(seconds=settings.webhook_timeout_seconds) < job_limit for n in jobs), jobs
    assert sent == cursors
