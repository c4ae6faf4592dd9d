"""Where an API process keeps the per-account budgets of query cost: in Redis when `REDIS_URL` is
set (every process of the deployment spends from one budget per account), else in this process.

`create_app` puts a process-local budget on `app.state.cost_budget` at once (so an app served
without its lifespan still has one); with Redis, `cost_budget_lifespan` swaps in the shared one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from starlette.applications import Starlette

from infra.rate_limit import Buckets, LocalBuckets, RedisBuckets
from infra.settings import Settings

SECONDS_PER_MINUTE = 60.0
#: Seconds a Redis call of the budget may take before the operation runs without it.
REDIS_TIMEOUT_SECONDS = 2.0


def local_cost_budget(settings: Settings) -> LocalBuckets:
    capacity = settings.query_cost_per_minute
    return LocalBuckets(capacity, capacity / SECONDS_PER_MINUTE)


def app_cost_budget(app: Starlette) -> Buckets | None:
    budget: Buckets | None = getattr(app.state, "cost_budget", None)
    return budget


def cost_budget_lifespan(settings: Settings) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def part(app: Starlette) -> AsyncIterator[None]:
        if not settings.redis_url:
            yield
            return
        from redis.asyncio import Redis

        client = Redis.from_url(
            settings.redis_url,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
        )
        capacity = settings.query_cost_per_minute
        app.state.cost_budget = RedisBuckets(
            client, f"{settings.redis_namespace}:cost", capacity, capacity / SECONDS_PER_MINUTE
        )
        try:
            yield
        finally:
            app.state.cost_budget = local_cost_budget(settings)
            await client.aclose()

    return part
