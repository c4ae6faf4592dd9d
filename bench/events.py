"""Measurement 3: a status change committed by a mutation (setUpdateRequestStatus over HTTP) until a
WebSocket subscriber of a real uvicorn server (RedisBus) receives it, against a raw redis-py
PUBLISH -> asyncio subscriber round trip on the same Redis.

The clock starts when the transaction committed: a domain event sink registered before the
server's bus sink runs first after the commit and stamps the time."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import redis.asyncio as aioredis

from bench.common import BenchEnv, Row, alternate, median, ms, percentile, ratio
from models.enums import EventType, Role
from models.events import UpdateRequestChanged, add_event_sink, remove_event_sink
from tests.factories import make_account, make_catalog, make_district, make_request, make_token
from tests.support_live import WsClient, live_server, ws_client

SUBSCRIPTION = """subscription Events($id: ID) {
  updateRequestEvents(updateRequestId: $id) { type at updateRequest { id status statusMessage } } }"""
MUTATION = """mutation Set($id: ID!, $status: UpdateStatus!, $message: String) {
  setUpdateRequestStatus(id: $id, status: $status, message: $message) {
    updateRequest { status } errors { code message } } }"""
TARGET_P50_RATIO = 2.0
TARGET_P99_SECONDS = 0.010
WITHIN = 10.0


class CommitClock:
    """Stamps each committed STATUS_CHANGED event of one request."""

    def __init__(self) -> None:
        self.stamps: asyncio.Queue[float] = asyncio.Queue()

    async def __call__(self, event: UpdateRequestChanged) -> None:
        if event.type is EventType.STATUS_CHANGED:
            self.stamps.put_nowait(time.perf_counter())


async def _service_round(
    http: httpx.AsyncClient, ws: WsClient, clock: CommitClock, request_gid: str, count: int, state: list[int]
) -> list[float]:
    samples = []
    for _ in range(count):
        state[0] += 1
        status = "PENDING_INPUT" if state[0] % 2 else "TO_BE_SCHEDULED"
        receive = asyncio.create_task(ws.event("1", WITHIN))
        response = await http.post(
            "/graphql",
            json={"query": MUTATION, "variables": {"id": request_gid, "status": status, "message": "bench"}},
            headers=http.headers,
        )
        payload = response.json()["data"]["setUpdateRequestStatus"]
        if payload["errors"]:
            raise RuntimeError(f"mutation refused: {payload['errors']}")
        event = await receive
        received = time.perf_counter()
        committed = await asyncio.wait_for(clock.stamps.get(), WITHIN)
        if event["updateRequest"]["status"] != status:
            raise RuntimeError(f"expected {status}, got {event}")
        samples.append(received - committed)
    return samples


async def _raw_round(
    client: aioredis.Redis, inbox: asyncio.Queue[float], channel: str, count: int
) -> list[float]:
    samples = []
    for i in range(count):
        sent = time.perf_counter()
        await client.publish(channel, json.dumps({"n": i, "at": sent}))
        samples.append(await asyncio.wait_for(inbox.get(), WITHIN) - sent)
    return samples


async def _raw_listener(pubsub: Any, inbox: asyncio.Queue[float]) -> None:
    async for message in pubsub.listen():
        if message["type"] == "message":
            inbox.put_nowait(time.perf_counter())


async def measure_event_latency(env: BenchEnv) -> list[Row]:
    per_round = env.options.count(60, 15)
    await make_catalog()
    district = await make_district()
    requester = await make_account(Role.TECHNICAL_CONTACT, [district])
    staff = await make_account(Role.HOSTING_STAFF, email="staff@bench.example")
    staff_token = await make_token(staff)
    request = await make_request(district, requested_by=requester)
    from resolvers.ids import encode_global_id

    request_gid = encode_global_id("UpdateRequest", request.id)
    clock = CommitClock()
    add_event_sink(clock)  # before the server's bus sink: stamps right after the commit
    raw = aioredis.Redis.from_url(env.redis_url)
    pubsub = raw.pubsub()
    channel = f"{env.namespace}:bench-raw"
    await pubsub.subscribe(channel)
    inbox: asyncio.Queue[float] = asyncio.Queue()
    listener = asyncio.create_task(_raw_listener(pubsub, inbox))
    try:
        async with (
            live_server(env.settings()) as server,
            ws_client(server, staff_token) as ws,
            httpx.AsyncClient(
                base_url=server.http_url, headers={"Authorization": f"Bearer {staff_token}"}
            ) as http,
        ):
            await ws.subscribe("1", {"id": request_gid}, SUBSCRIPTION)
            snapshot = await ws.event("1", WITHIN)
            if snapshot["type"] != "SNAPSHOT":
                raise RuntimeError(f"expected a SNAPSHOT first, got {snapshot}")
            state = [0]
            await _service_round(http, ws, clock, request_gid, 5, state)  # warm up
            await _raw_round(raw, inbox, channel, 5)
            service: list[float] = []
            baseline: list[float] = []

            async def service_subject() -> float:
                samples = await _service_round(http, ws, clock, request_gid, per_round, state)
                service.extend(samples)
                return median(samples)

            async def raw_subject() -> float:
                samples = await _raw_round(raw, inbox, channel, per_round)
                baseline.extend(samples)
                return median(samples)

            await alternate({"service": service_subject, "raw": raw_subject}, env.options.rounds)
    finally:
        remove_event_sink(clock)
        listener.cancel()
        await pubsub.aclose()
        await raw.aclose()
    p50, p99 = percentile(service, 50), percentile(service, 99)
    raw50, raw99 = percentile(baseline, 50), percentile(baseline, 99)
    return [
        Row(
            "event latency p50: commit -> WebSocket subscriber (RedisBus)",
            ms(p50),
            ms(raw50) + " (raw redis pub/sub)",
            ratio(p50, raw50),
            f"<= {TARGET_P50_RATIO:.0f}x",
            p50 / raw50 <= TARGET_P50_RATIO,
        ),
        Row(
            "event latency p99",
            ms(p99),
            ms(raw99) + " (raw redis pub/sub)",
            ratio(p99, raw99),
            f"<= {TARGET_P99_SECONDS * 1000:.0f} ms",
            p99 <= TARGET_P99_SECONDS,
        ),
    ]
