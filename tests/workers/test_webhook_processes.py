"""Webhooks end to end on PostgreSQL and Redis with real `updatedesk worker` and `updatedesk
scheduler` processes: an endpoint registered through createWebhook gets a refresh's moves as
signed POSTs in order, a 500 is retried with the same delivery id, another district's events never
reach it; a worker killed mid-delivery is followed by an attempt with the same delivery id, and
another worker takes over the dead one's dispatcher."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from infra.settings import Settings
from models.enums import EnvironmentKind, Role, UpdateKind, UpdateStatus
from models.requests.requesting import request_update
from models.tables import Webhook, WebhookDelivery, WebhookStreamPosition
from models.webhooks.signing import verify
from tests import support
from tests.factories import actor_of, make_account, make_district, make_token
from tests.support_graphql import GraphQLClient, gid
from tests.support_live import free_port
from tests.support_webhooks import HANG, Received, Receiver, receiver
from tests.workers.conftest import REDIS_URL, wait_until
from tests.workers.scenario import TARGET_VERSION, Scene, make_scene, request_and_schedule
from tests.workers.test_processes import Processes, namespace, processes  # noqa: F401 (fixtures)
from updatedesk.app import create_app
from workers.runtime import Runtime, api_runtime

pytestmark = pytest.mark.slow
WITHIN = 30.0
#: A killed worker's claim on its attempt lapses after three POST time limits (6 s here), then the
#: scheduler's sweep enqueues the endpoint again (after `SWEEP_GRACE`, 10 s).
AFTER_A_KILL = 45.0
CREATE = """mutation($input: WebhookInput!) {
  createWebhook(input: $input) { webhook { id } secret errors { code message field } } }"""
MOVES = ("CREATED", "STATUS_CHANGED")
WORKER_ENV = {
    "UPDATEDESK_WEBHOOK_ALLOW_PRIVATE": "true",
    "UPDATEDESK_WEBHOOK_RETRY_SECONDS": "0.2",
    "UPDATEDESK_WEBHOOK_TIMEOUT_SECONDS": "2",
    "UPDATEDESK_WEBHOOK_DISPATCH_LEASE_SECONDS": "1.5",
    "UPDATEDESK_WORKER_HEARTBEAT_TIMEOUT": "1.5",
    "UPDATEDESK_WORKER_MAINTENANCE_CHANCE": "1000000",
}


@pytest.fixture
async def api(postgres_db: support.TestDatabase, namespace: str) -> AsyncIterator[Runtime]:  # noqa: F811
    """This test process plays the API process: its events go to the Redis stream."""
    settings = Settings(database_url=postgres_db.url, redis_url=REDIS_URL, redis_namespace=namespace)
    async with api_runtime(settings) as runtime:
        yield runtime


async def create_webhook(runtime: Runtime, token: str, url: str, district_id: str | None = None) -> Webhook:
    """Through the GraphQL API, as a partner does; the secret comes back once."""
    settings = runtime.settings.model_copy(update={"webhook_allow_private": True})
    app = create_app(settings, manage_orm=False, live=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        answer = await GraphQLClient(http).data(
            CREATE, {"input": {"url": url, "districtId": district_id}}, token
        )
    created = answer["createWebhook"]
    assert created["errors"] == [], created
    hook = await Webhook.get(url=url)
    assert hook.secret == created["secret"]
    return hook


async def dispatcher_started() -> None:
    """Until a worker's dispatcher has stored where it starts (events from then on are fanned out;
    the first start does not replay what came before)."""

    async def stored() -> bool:
        return await WebhookStreamPosition.exists()

    await wait_until(stored, WITHIN, "a worker's webhook dispatcher to start")


async def until_received(endpoint: Receiver, done: str, within: float = WITHIN) -> None:
    """Until `endpoint` got a body whose `toStatus` is `done`."""

    def arrived() -> bool:
        return any(r.json.get("toStatus") == done for r in endpoint.requests)

    async with asyncio.timeout(within):
        while not arrived():
            endpoint.arrived.clear()
            await endpoint.arrived.wait()


def moves(received: list[Received]) -> list[tuple[str | None, str]]:
    """Each delivery's move once (a retried delivery counted once), in arrival order."""
    seen: set[str] = set()
    found = []
    for item in received:
        uid = item.headers["updatedesk-delivery"]
        if item.json["type"] in MOVES and uid not in seen:
            seen.add(uid)
            found.append((item.json["fromStatus"], item.json["toStatus"]))
    return found


async def test_a_refresh_s_moves_arrive_signed_in_order_retried_and_only_for_the_owner_s_district(
    processes: Processes,  # noqa: F811
    api: Runtime,
) -> None:
    scene = await make_scene()
    foreign = await make_district(environments=[EnvironmentKind.PRODUCTION, EnvironmentKind.SANDBOX])
    foreign_contact = await make_account(Role.TECHNICAL_CONTACT, [foreign])
    foreign_scene = Scene(foreign, await actor_of(foreign_contact), scene.staff, foreign_contact.email)
    partner = await make_account(Role.TECHNICAL_CONTACT, [scene.district])
    staff = await make_account(Role.HOSTING_STAFF)
    metrics_port = free_port()
    # Two worker processes, each with a dispatcher: one of them dispatches.
    processes.start(
        "worker", "--processes", "2", "--threads", "2", UPDATEDESK_WORKER_METRICS_PORT=str(metrics_port),
        **WORKER_ENV,
    )  # fmt: skip
    processes.start("scheduler", **WORKER_ENV)
    async with receiver(500) as own, receiver() as everything:
        # The partner's endpoint for every district it sees (one); staff's for all districts.
        hook = await create_webhook(api, await make_token(partner), own.url())
        await create_webhook(api, await make_token(staff), everything.url())
        await dispatcher_started()
        foreign_request = await request_and_schedule(
            foreign_scene, UpdateKind.DATABASE_REFRESH, EnvironmentKind.SANDBOX
        )
        request = await request_and_schedule(scene, UpdateKind.DATABASE_REFRESH, EnvironmentKind.SANDBOX)
        await until_received(own, UpdateStatus.COMPLETED.value)
        await until_received(everything, UpdateStatus.COMPLETED.value)
        # The foreign refresh's own COMPLETED has reached staff's endpoint too: by then its records
        # were all fanned out.
        foreign_id = gid(foreign_request)

        async def foreign_completed() -> bool:
            return any(
                r.json["updateRequest"]["id"] == foreign_id and r.json.get("toStatus") == "COMPLETED"
                for r in everything.requests
            )

        await wait_until(foreign_completed, WITHIN, "staff's endpoint to hear the foreign refresh end")

    assert moves(own.requests) == [
        (None, "TO_BE_SCHEDULED"),
        ("TO_BE_SCHEDULED", "SCHEDULED"),
        ("SCHEDULED", "NOT_STARTED"),
        ("NOT_STARTED", "IN_PROGRESS"),
        ("IN_PROGRESS", "COMPLETED"),
    ]
    for item in own.requests:
        assert verify(hook.secret, item.headers["updatedesk-signature"], item.body, time.time())
        assert item.json["updateRequest"]["id"] == gid(request)  # never the foreign district's
    # The first POST was answered 500: the retry carries the same delivery id and body.
    first, retry = own.requests[0], own.requests[1]
    assert first.headers["updatedesk-delivery"] == retry.headers["updatedesk-delivery"]
    assert (first.body, retry.json["type"]) == (retry.body, "CREATED")
    assert not await WebhookDelivery.filter(webhook_id=hook.id, district_id=foreign.id).exists()
    held = [
        await scrape(port, "updatedesk_webhook_dispatcher_held") for port in (metrics_port, metrics_port + 1)
    ]
    assert sorted(held) == [0.0, 1.0]


async def scrape(port: int, name: str) -> float:
    """A gauge from a worker process's metrics endpoint."""
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    return next(float(line.split()[-1]) for line in text.splitlines() if line.startswith(f"{name} "))


async def test_a_worker_killed_mid_delivery_is_followed_by_the_same_delivery_id(
    processes: Processes,  # noqa: F811
    api: Runtime,
) -> None:
    scene = await make_scene()
    partner = await make_account(Role.TECHNICAL_CONTACT, [scene.district])
    first = processes.start("worker", "--threads", "1", **WORKER_ENV)
    processes.start("scheduler", **WORKER_ENV)
    async with receiver(HANG) as endpoint:
        hook = await create_webhook(api, await make_token(partner), endpoint.url(), gid(scene.district))
        await dispatcher_started()
        await request_and_schedule(scene, UpdateKind.DATABASE_REFRESH, EnvironmentKind.SANDBOX)
        await endpoint.wait_for(1, WITHIN)  # the worker is POSTing; the receiver holds it open
        first.kill()  # the machine dies mid-delivery
        first.wait()
        processes.start("worker", "--threads", "1", **WORKER_ENV)
        await endpoint.wait_for(2, AFTER_A_KILL)
        # The dead worker held the dispatcher: the new one took over once its lease expired.
        later = await request_update(
            scene.requester,
            district_id=scene.district.id,
            kind=UpdateKind.VERSION_UPDATE,
            environment=EnvironmentKind.PRODUCTION,
            target_version=TARGET_VERSION,
        )

        def later_created() -> bool:
            return any(r.json["updateRequest"]["id"] == gid(later) for r in endpoint.requests)

        async with asyncio.timeout(WITHIN):
            while not later_created():
                endpoint.arrived.clear()
                await endpoint.arrived.wait()
    hung, again = endpoint.requests[0], endpoint.requests[1]
    assert hung.headers["updatedesk-delivery"] == again.headers["updatedesk-delivery"]
    assert hung.body == again.body and again.json["type"] == "CREATED"
    assert verify(hook.secret, again.headers["updatedesk-signature"], again.body, time.time())
    delivery = await WebhookDelivery.get(uid=again.headers["updatedesk-delivery"])
    assert delivery.attempts == 2
