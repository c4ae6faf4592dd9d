"""The job-queue interface the scheduler and the domain's sinks use, and its dramatiq version.

``JobQueue.enqueue_update_request(id)``, ``JobQueue.enqueue_notification(id)`` and
``JobQueue.enqueue_webhook(id, delay)`` are the whole interface; ``workers.embedded.EmbeddedQueue``
implements it in-process, ``DramatiqQueue`` over Redis. ``install_notification_sink(queue)`` sends
every new outbox mail to the queue after commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from infra.request_ids import current_request_id
from models.events import add_notification_sink, remove_notification_sink
from workers.actors import Actors


class JobQueue(Protocol):
    async def enqueue_update_request(self, request_id: int) -> None: ...

    async def enqueue_notification(self, notification_id: int) -> None: ...

    async def enqueue_webhook(self, webhook_id: int, delay: float = 0.0) -> None: ...


class DramatiqQueue:
    """Enqueue to the dramatiq actors (Redis). The broker's client is blocking: it runs in a thread."""

    def __init__(self, actors: Actors) -> None:
        self.actors = actors

    async def enqueue_update_request(self, request_id: int) -> None:
        await asyncio.to_thread(self.actors.run_update_request.send, request_id, current_request_id())

    async def enqueue_notification(self, notification_id: int) -> None:
        # The job carries the API request id (when there is one) into the worker's log lines.
        await asyncio.to_thread(self.actors.send_notification.send, notification_id, current_request_id())

    async def enqueue_webhook(self, webhook_id: int, delay: float = 0.0) -> None:
        # dramatiq treats any delay, 0 too, as "delayed": only a real wait goes to the delay queue.
        await asyncio.to_thread(
            self.actors.deliver_webhook.send_with_options,
            args=(webhook_id, current_request_id()),
            delay=int(delay * 1000) if delay > 0 else None,
        )


def install_notification_sink(queue: JobQueue) -> Callable[[], None]:
    """Enqueue every outbox mail after its commit. Returns a function that uninstalls the sink."""

    async def enqueue(notification_id: int) -> None:
        await queue.enqueue_notification(notification_id)

    add_notification_sink(enqueue)
    return lambda: remove_notification_sink(enqueue)
