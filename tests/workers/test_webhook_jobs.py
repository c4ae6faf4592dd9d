"""Webhook jobs on both queues: the embedded queue delivers and retries by itself, the dramatiq
queue sends the job (delayed for a retry) to the webhooks queue."""

from __future__ import annotations

from typing import Any, cast

from dramatiq import Message
from dramatiq.brokers.stub import StubBroker

from infra.settings import Settings
from models.enums import WebhookDeliveryState
from models.tables import WebhookDelivery
from models.webhooks.fanout import fan_out
from tests import support
from tests.support_webhooks import add_webhook, make_world, receiver, record_of
from tests.workers.conftest import wait_until
from workers.actors import WEBHOOK_QUEUE, declare_actors
from workers.queue import DramatiqQueue
from workers.runtime import embedded_runtime

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
