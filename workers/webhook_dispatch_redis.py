"""A worker process's webhook dispatcher in Redis mode (`workers.webhook_dispatch`): the
deployment's stream read on clients of its own, the position in the database, the lease in Redis."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from infra.bus import RedisStream
from infra.bus.redis import reader_client, redis_client
from infra.settings import Settings
from workers.leader_lease import RedisLease
from workers.webhook_dispatch import WebhookDispatcher, lease_key, running
from workers.webhook_positions import StoredPositions
from workers.webhooks import WebhookQueue


@contextlib.asynccontextmanager
async def redis_dispatcher(settings: Settings, queue: WebhookQueue) -> AsyncIterator[WebhookDispatcher]:
    """A worker process's dispatcher (Redis mode), running: the deployment's stream read on
    clients of its own, the position in the database, the lease in Redis."""
    assert settings.redis_url, "the Redis dispatcher needs REDIS_URL"
    client, reader = redis_client(settings.redis_url), reader_client(settings.redis_url)
    stream = RedisStream(client, settings.redis_namespace, reader=reader)
    lease = RedisLease(client, lease_key(settings.redis_namespace), settings.webhook_dispatch_lease_seconds)
    dispatcher = WebhookDispatcher(stream, queue, StoredPositions(stream.key), lease)
    try:
        async with running(dispatcher):
            yield dispatcher
    finally:
        await reader.aclose()
        await client.aclose()
