"""The cost limit and the per-account cost budget through the API: refusals that say the cost and
the limit, the cost in the log line and the metrics, and one budget for every process (Redis)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from structlog.testing import capture_logs

from infra.rate_limit import LocalBuckets, RedisBuckets, take
from infra.settings import Settings
from models.enums import Role
from tests.factories import make_account, make_district, make_token
from tests.schema.test_cost_calculator import README_DASHBOARD
from tests.support import TestDatabase
from tests.support_graphql import GRAPHQL, gid
from tests.support_live import free_port, live_server
from tests.updatedesk.test_observability import sample
from tests.workers.conftest import REDIS_URL
from updatedesk.app import create_app

PAGE = "query Page($n: Int) { updateRequests(first: $n) { edges { node { history { at } } } } }"


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


async def post(
    http: httpx.AsyncClient, token: str, query: str, variables: dict[str, Any] | None = None
) -> Any:
    response = await http.post(
        GRAPHQL, json={"query": query, "variables": variables}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    return response.json()


def client_for(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture
async def caller(db: TestDatabase) -> tuple[str, str]:
    district = await make_district()
    return await make_token(await make_account(Role.TECHNICAL_CONTACT, [district])), gid(district)


async def test_over_the_limit_is_refused_with_cost_and_limit(caller: tuple[str, str]) -> None:
    token, district = caller
    app = create_app(Settings(query_max_cost=1000), manage_orm=False)
    async with client_for(app) as http:
        before = (await http.get("/metrics")).text
        with capture_logs() as logs:
            dashboard = await post(http, token, README_DASHBOARD, {"district": district})
            refused = await post(http, token, PAGE, {"n": 100})  # 1 + 100 x (edge, node, 10 history)
        after = (await http.get("/metrics")).text
    assert "errors" not in dashboard
    assert refused["data"] is None
    [error] = refused["errors"]
    assert error["extensions"] == {"code": "QUERY_TOO_COMPLEX", "cost": 1201, "maxCost": 1000}
    assert "up to 1201 objects" in error["message"] and "the limit is 1000" in error["message"]
    lines = [
        (line["operation"], line["cost"], line["outcome"])
        for line in logs
        if line["event"] == "graphql operation"
    ]
    assert lines == [("Dashboard", 624, "ok"), ("Page", 1201, "refused")]
    observed = "updatedesk_graphql_operation_cost_sum"
    assert sample(after, observed) - sample(before, observed) == 624 + 1201


async def test_an_account_that_spends_its_budget_waits(caller: tuple[str, str]) -> None:
    token, _ = caller
    other = await make_token(await make_account(Role.HOSTING_STAFF))
    clock = Clock()
    app = create_app(Settings(query_max_cost=1000, query_cost_per_minute=3000), manage_orm=False)
    app.state.cost_budget = LocalBuckets(3000, 3000 / 60, clock)
    async with client_for(app) as http:
        spent = [
            await post(http, token, PAGE, {"n": 80}) for _ in range(3)
        ]  # 961 each: 1 + 80 x (edge, node, 10 history)
        refused = await post(http, token, PAGE, {"n": 80})
        small = await post(http, token, PAGE, {"n": 1})  # 13 still fits in the 117 left
        elsewhere = await post(http, other, PAGE, {"n": 80})  # another account's own budget
        clock.now += 20  # 1000 more: 1104
        again = await post(http, token, PAGE, {"n": 80})
    assert all("errors" not in body for body in [*spent, small, elsewhere, again])
    [error] = refused["errors"]
    # (961 - 117) / (3000 / 60 per second) = 16.9 s
    assert error["extensions"] == {"code": "RATE_LIMITED", "cost": 961, "retryAfterSeconds": 17}
    assert "costs 961, and 117 of 3000 per minute are left; try again in 17 s" in error["message"]


async def test_the_budget_is_shared_by_every_process_through_redis(
    db: TestDatabase, caller: tuple[str, str], run_id: str
) -> None:
    token, _ = caller
    settings = Settings(
        database_url=db.url,
        redis_url=REDIS_URL,
        redis_namespace=f"{run_id}-{uuid.uuid4().hex[:8]}",
        query_max_cost=1000,
        query_cost_per_minute=2000,
    )
    async with live_server(settings) as first, live_server(settings) as second:
        assert isinstance(first.app.state.cost_budget, RedisBuckets)
        async with (
            httpx.AsyncClient(base_url=first.http_url) as one,
            httpx.AsyncClient(base_url=second.http_url) as two,
        ):
            answers = [
                await post(one, token, PAGE, {"n": 80}),
                await post(two, token, PAGE, {"n": 80}),
                await post(one, token, PAGE, {"n": 80}),
                await post(two, token, PAGE, {"n": 80}),
            ]
    codes = [[e["extensions"]["code"] for e in body.get("errors", [])] for body in answers]
    # 961 + 961 fit in 2000; the third and fourth do not, whichever process they reach (refill
    # over the seconds of the test is far below 961).
    assert codes == [[], [], ["RATE_LIMITED"], ["RATE_LIMITED"]]


async def test_redis_buckets_follow_the_same_rule(run_id: str) -> None:
    client = Redis.from_url(REDIS_URL)
    clock = Clock()
    try:
        prefix = f"{run_id}-{uuid.uuid4().hex[:8]}:cost"
        shared = RedisBuckets(client, prefix, 100, 10, clock)
        twin = RedisBuckets(client, prefix, 100, 10, clock)
        local = LocalBuckets(100, 10, clock)
        for buckets in (shared, local):
            assert (await buckets.take("a", 60)).allowed
        assert not (await twin.take("a", 60)).allowed  # the same budget, seen from another process
        refused = await shared.take("a", 60)
        assert (refused.allowed, refused.remaining, refused.retry_after) == (False, 40, 2.0)
        assert (await local.take("a", 60)).retry_after == 2.0
        clock.now += 2
        assert (await twin.take("a", 60)).allowed and (await local.take("a", 60)).allowed
        assert (await shared.take("b", 100)).allowed  # keys apart
        ttl = await client.pttl(f"{prefix}:a")
        assert 0 < ttl <= 2 * 1000 * 100 / 10 + 1000
    finally:
        await client.aclose()


def test_take_refills_evenly_and_spends_nothing_when_refused() -> None:
    decision, bucket = take(None, 0.0, 30, capacity=100, per_second=10)
    assert decision.allowed and bucket.tokens == 70
    decision, bucket = take(bucket, 1.0, 90, capacity=100, per_second=10)  # 80 there
    assert not decision.allowed and decision.retry_after == 1.0 and bucket.tokens == 80
    decision, bucket = take(bucket, 100.0, 0, capacity=100, per_second=10)
    assert bucket.tokens == 100  # never above capacity
    decision, later = take(bucket, 50.0, 10, capacity=100, per_second=10)  # the clock went back
    assert decision.allowed and later.tokens == 90 and later.at == 100.0


async def test_without_redis_the_budget_steps_aside(
    caller: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """Redis unreachable: operations are served (without the budget) and the cause is logged."""
    token, _ = caller
    client = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    app = create_app(Settings(), manage_orm=False)
    app.state.cost_budget = RedisBuckets(client, "nowhere:cost", 2000, 2000 / 60)
    try:
        async with client_for(app) as http:
            body = await post(http, token, PAGE, {"n": 1})
    finally:
        await client.aclose()
    assert "errors" not in body
    assert any("query cost budget unavailable" in r.getMessage() for r in caplog.records)
