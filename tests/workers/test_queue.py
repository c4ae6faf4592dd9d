"""Jobs carry the id of the API request that caused them, so worker log lines can be traced back."""

from __future__ import annotations

from typing import Any, cast

import structlog
from dramatiq import Message
from dramatiq.brokers.stub import StubBroker

from infra.settings import Settings
from workers.actors import MAIL_QUEUE, UPDATE_QUEUE, declare_actors
from workers.queue import DramatiqQueue


async def test_enqueued_jobs_carry_the_request_id_of_their_cause() -> None:
    broker = StubBroker()
    queue = DramatiqQueue(declare_actors(cast(Any, broker), Settings()))
    with structlog.contextvars.bound_contextvars(request_id="req-42"):
        await queue.enqueue_notification(7)
        await queue.enqueue_update_request(9)
    await queue.enqueue_notification(8)  # outside any API request: no id

    mail = [(m.args, m.queue_name) for m in map(Message.decode, broker.queues[MAIL_QUEUE].queue)]
    updates = [m.args for m in map(Message.decode, broker.queues[UPDATE_QUEUE].queue)]
    assert mail == [((7, "req-42"), MAIL_QUEUE), ((8, None), MAIL_QUEUE)]
    assert updates == [(9, "req-42")]
    broker.close()
