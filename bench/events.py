"""Measurement 3: a status change committed in one process until a WebSocket subscriber of the
API process (`updatedesk serve`, its own OS process, reading the event stream) receives it,
against a raw redis-py XADD -> XREAD BLOCK round trip on the same Redis (the least a stream costs
between two clients), in alternating rounds.

The clock starts when the transaction committed: a domain event sink registered before this
process's bus sink runs first after the commit and stamps the time. The committing process is
the bench itself (as a worker or another API process would be); it is idle while it waits. The
clock stops when the frame's bytes reach the subscriber: the same minimal client as the floor's
(`bench.fanout.RawSubscriber`), so that what a client library does with a frame (the `websockets`
client took 0.1-0.2 ms here) is not counted as the service's; the payload is checked after.

A third subject, in the same alternating rounds, is the least any such path costs here: XADD from
the bench, a bare asyncio server in another process (`bench.raw_fanout`: no ASGI, GraphQL or
authorization) blocked on XREAD writes a pre-built WebSocket frame, a minimal client in the bench
timestamps it. The service's ratio against that floor is printed beside the target's ratio: on a
virtual machine most of a cross-process hop is waking an idle process, which no server code can
shorten (BENCHMARKS.md)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import redis.asyncio as aioredis

from bench.common import BenchEnv, Row, alternate, cpu_seconds, median, ms, percentile, ratio
from bench.fanout import RawSubscriber, _connect, _connect_all, _wait_listening, _wait_ready
from infra.bus import RedisBus, install_bus_sink
from models.access import actor_for_account
from models.enums import EventType, Role, UpdateStatus
from models.events import UpdateRequestChanged, add_event_sink, remove_event_sink
from models.requests.staff import set_update_request_status
from tests.factories import make_account, make_catalog, make_district, make_request, make_token
from tests.support_graphql import gid
from tests.support_live import free_port

SUBSCRIPTION = """subscription Events($id: ID) {
  updateRequestEvents(updateRequestId: $id) { type at cursor fromStatus toStatus
    updateRequest { id status statusMessage } } }"""
TARGET_P50_RATIO = 3.0
TARGET_P99_SECONDS = 0.010
WITHIN = 10.0


class CommitClock:
    """Stamps each committed STATUS_CHANGED event of one request."""

    def __init__(self) -> None:
        self.stamps: asyncio.Queue[float] = asyncio.Queue()

    async def __call__(self, event: UpdateRequestChanged) -> None:
        if event.type is EventType.STATUS_CHANGED:
            self.stamps.put_nowait(time.perf_counter())


async def _frame_arrival(subscriber: RawSubscriber, seen: int) -> float:
    """When the subscriber's text frame number `seen` (counted from the ack) arrived."""
    while len(subscriber.received) <= seen:
        if subscriber.closed:
            raise RuntimeError("the subscriber's socket was closed")
        subscriber.arrived.clear()
        await asyncio.wait_for(subscriber.arrived.wait(), WITHIN)
    return subscriber.received[seen]


async def _next_event(subscriber: RawSubscriber, seen: int) -> tuple[float, dict[str, Any]]:
    """When frame number `seen` arrived, and the `updateRequestEvents` payload it carries (fails
    on anything else)."""
    arrived = await _frame_arrival(subscriber, seen)
    assert subscriber.texts is not None
    message = json.loads(subscriber.texts[seen])
    if message.get("type") != "next" or "errors" in message.get("payload", {}):
        raise RuntimeError(f"expected an event, got {message}")
    event: dict[str, Any] = message["payload"]["data"]["updateRequestEvents"]
    return arrived, event


async def _service_round(
    subscriber: RawSubscriber, clock: CommitClock, move: Any, count: int, state: list[int]
) -> list[float]:
    samples = []
    for _ in range(count):
        state[0] += 1
        status = UpdateStatus.PENDING_INPUT if state[0] % 2 else UpdateStatus.TO_BE_SCHEDULED
        seen = len(subscriber.received)
        await move(status)
        received, event = await _next_event(subscriber, seen)
        committed = await asyncio.wait_for(clock.stamps.get(), WITHIN)
        if event["updateRequest"]["status"] != status.value or event["toStatus"] != status.value:
            raise RuntimeError(f"expected {status.value}, got {event}")
        samples.append(received - committed)
    return samples


async def _raw_round(
    client: aioredis.Redis, inbox: asyncio.Queue[float], key: str, count: int
) -> list[float]:
    samples = []
    for i in range(count):
        sent = time.perf_counter()
        await client.xadd(key, {"n": i})
        samples.append(await asyncio.wait_for(inbox.get(), WITHIN) - sent)
    return samples


async def _raw_reader(reader: aioredis.Redis, key: str, inbox: asyncio.Queue[float]) -> None:
    """One blocking reader on its own connection, as the API process has (from the start of the
    per-run key: "$" would miss an XADD sent before the first XREAD arrives)."""
    last = "0-0"
    while True:
        answer: Any = await reader.xread({key: last}, block=1000, count=100)
        for _, entries in answer or []:
            for entry_id, _ in entries:
                last = entry_id
                inbox.put_nowait(time.perf_counter())


async def _hop_round(client: aioredis.Redis, key: str, subscriber: RawSubscriber, count: int) -> list[float]:
    """XADD -> the raw server's XREAD in its own process -> a WebSocket frame -> this client."""
    samples = []
    for i in range(count):
        seen = len(subscriber.received)
        sent = time.perf_counter()
        await client.xadd(key, {"n": i})
        samples.append(await _frame_arrival(subscriber, seen) - sent)
    return samples


async def measure_event_latency(env: BenchEnv) -> list[Row]:
    per_round = env.options.count(60, 15)
    await make_catalog()
    district = await make_district()
    requester = await make_account(Role.TECHNICAL_CONTACT, [district])
    staff = await make_account(Role.HOSTING_STAFF, email="staff@bench.example")
    staff_token = await make_token(staff)
    request = await make_request(district, requested_by=requester)
    actor = actor_for_account(staff.id, Role.HOSTING_STAFF, frozenset())

    async def move(status: UpdateStatus) -> None:
        await set_update_request_status(actor, request.id, status, "bench")

    port = free_port()
    process = env.start("serve", "serve", "--port", str(port))
    clock = CommitClock()
    add_event_sink(clock)  # before the bus sink: stamps right after the commit
    bus = RedisBus(env.redis_url, env.namespace)
    uninstall = install_bus_sink(bus)
    raw = aioredis.Redis.from_url(env.redis_url)
    reader = aioredis.Redis.from_url(env.redis_url, socket_timeout=10)
    key = f"{env.namespace}:bench-raw-stream"
    inbox: asyncio.Queue[float] = asyncio.Queue()
    listener = asyncio.create_task(_raw_reader(reader, key, inbox))
    hop_port, hop_key = free_port(), f"{env.namespace}:bench-raw-hop"
    hop_server = env.start_module("raw-hop", "bench.raw_fanout", str(hop_port), env.redis_url, hop_key)
    hops: list[float] = []
    #: CPU seconds each server process ran during its subject's rounds, and events in them.
    cpu = {"service": 0.0, "hop": 0.0}
    try:
        await _wait_listening(hop_port)
        (hop_client,) = await _connect_all(hop_port, "raw", 1)
        await _hop_round(raw, hop_key, hop_client, 5)  # warm up
        await _wait_ready(port)
        subscriber = await _connect(
            "127.0.0.1", port, staff_token, asyncio.Semaphore(1), subscribe=False, keep_texts=True
        )
        try:
            subscriber.subscribe(SUBSCRIPTION, {"id": gid(request)})
            _, snapshot = await _next_event(subscriber, 0)
            if snapshot["type"] != "SNAPSHOT":
                raise RuntimeError(f"expected a SNAPSHOT first, got {snapshot}")
            state = [0]
            await _service_round(subscriber, clock, move, 5, state)  # warm up
            await _raw_round(raw, inbox, key, 5)
            service: list[float] = []
            baseline: list[float] = []

            async def service_subject() -> float:
                before = cpu_seconds(process.pid)
                samples = await _service_round(subscriber, clock, move, per_round, state)
                cpu["service"] += cpu_seconds(process.pid) - before
                service.extend(samples)
                return median(samples)

            async def raw_subject() -> float:
                samples = await _raw_round(raw, inbox, key, per_round)
                baseline.extend(samples)
                return median(samples)

            async def hop_subject() -> float:
                before = cpu_seconds(hop_server.pid)
                samples = await _hop_round(raw, hop_key, hop_client, per_round)
                cpu["hop"] += cpu_seconds(hop_server.pid) - before
                hops.extend(samples)
                return median(samples)

            await alternate(
                {"service": service_subject, "raw": raw_subject, "hop": hop_subject}, env.options.rounds
            )
        finally:
            subscriber.close()
    finally:
        remove_event_sink(clock)
        uninstall()
        listener.cancel()
        await bus.close()
        await reader.aclose()
        await raw.aclose()
        env.stop(process)
        env.stop(hop_server)
    p50, p99 = percentile(service, 50), percentile(service, 99)
    raw50, raw99 = percentile(baseline, 50), percentile(baseline, 99)
    hop50 = percentile(hops, 50)
    service_cpu, hop_cpu = cpu["service"] / len(service), cpu["hop"] / len(hops)
    return [
        Row(
            "event latency p50: commit -> WebSocket subscriber of another process",
            ms(p50),
            ms(raw50) + " (raw XADD -> XREAD)",
            ratio(p50, raw50),
            f"<= {TARGET_P50_RATIO:.0f}x",
            p50 / raw50 <= TARGET_P50_RATIO,
        ),
        Row(
            "event latency p99",
            ms(p99),
            ms(raw99) + " (raw XADD -> XREAD)",
            ratio(p99, raw99),
            f"<= {TARGET_P99_SECONDS * 1000:.0f} ms",
            p99 <= TARGET_P99_SECONDS,
        ),
        Row(
            "event latency p50 against the two-process floor (informative)",
            ms(p50),
            ms(hop50) + " (raw XADD -> bare server in another process -> frame)",
            ratio(p50, hop50),
        ),
        Row(
            "API process CPU per event, idle between events (informative)",
            f"{service_cpu * 1e6:.0f} us",
            f"{hop_cpu * 1e6:.0f} us (the bare server's, same rounds)",
            ratio(service_cpu, hop_cpu),
        ),
    ]
