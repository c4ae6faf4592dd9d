"""The dramatiq broker: Redis from REDIS_URL, keys under the deployment's namespace.

A worker's broker also carries the AsyncIO middleware (async actors run on its event-loop thread)
and ``TortoiseMiddleware``, which starts the ORM (and the event/mail sinks) on that same loop once
the worker has booted, and closes them after the worker stopped, so the ORM's connections never
change loops.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import redis
from dramatiq import Worker
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import AsyncIO, Middleware

from infra.db import close_orm, init_orm
from infra.settings import Settings
from workers.errors import ConfigurationError
from workers.wake import WakingRedisBroker

logger = logging.getLogger(__name__)

#: Redis socket timeouts of the broker's client, seconds (its commands never block server-side).
REDIS_SOCKET_TIMEOUT = 10.0
REDIS_CONNECT_TIMEOUT = 5.0

Hook = Callable[[], Awaitable[None]]


def broker_namespace(settings: Settings) -> str:
    return f"{settings.redis_namespace}:dramatiq"


def redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url, socket_timeout=REDIS_SOCKET_TIMEOUT, socket_connect_timeout=REDIS_CONNECT_TIMEOUT
    )


def build_broker(settings: Settings) -> RedisBroker:
    """The deployment's broker (for enqueueing; ``add_worker_middleware`` makes it a worker's).
    Its enqueues wake an idle consumer at once (workers.wake); the worker's idle wait is a fallback."""
    if not settings.redis_url:
        raise ConfigurationError("REDIS_URL is not set: the dramatiq broker needs Redis.")
    broker = WakingRedisBroker(
        wait_url=settings.redis_url,
        client=redis_client(settings.redis_url),
        namespace=broker_namespace(settings),
        heartbeat_timeout=int(settings.worker_heartbeat_timeout * 1000),
        maintenance_chance=settings.worker_maintenance_chance,
    )
    broker.add_middleware(AsyncIO())
    return broker


class TortoiseMiddleware(Middleware):
    """Start the ORM, then `on_start` hooks, on the worker's event loop; undo it at shutdown.

    Must come after AsyncIO in the middleware list: dramatiq calls ``before_*`` hooks in list order,
    so its ``before_worker_boot`` runs once AsyncIO's loop thread exists and before any worker
    thread can take a job; ``after_*`` hooks in reverse order, so its ``after_worker_shutdown``
    runs before AsyncIO stops the loop.
    """

    def __init__(self, settings: Settings, on_start: Hook | None = None, on_stop: Hook | None = None) -> None:
        self.settings = settings
        self.on_start = on_start
        self.on_stop = on_stop

    def _run(self, hook: Hook) -> None:
        loop_thread = get_event_loop_thread()
        if loop_thread is None:
            raise ConfigurationError("TortoiseMiddleware needs the AsyncIO middleware before it.")
        loop_thread.run_coroutine(hook())

    def before_worker_boot(self, broker: Any, worker: Worker) -> None:
        async def start() -> None:
            await init_orm(self.settings)
            if self.on_start is not None:
                await self.on_start()

        self._run(start)
        logger.info("worker: ORM started on the worker's event loop")

    def after_worker_shutdown(self, broker: Any, worker: Worker) -> None:
        async def stop() -> None:
            try:
                if self.on_stop is not None:
                    await self.on_stop()
            finally:
                await close_orm()

        self._run(stop)


def add_worker_middleware(
    broker: RedisBroker, settings: Settings, on_start: Hook | None = None, on_stop: Hook | None = None
) -> None:
    broker.add_middleware(TortoiseMiddleware(settings, on_start, on_stop))
