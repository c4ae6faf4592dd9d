"""Measurement 5: a subscriber that reconnects 1,000 events behind (`after` = the cursor it last
saw) on one API process (`updatedesk serve`): from opening the socket until the last missed
event has arrived, against reading the same records from the Redis stream (XRANGE pages, the
least catching up costs) in the same run, in alternating rounds."""

from __future__ import annotations

import time
from typing import Any

import redis.asyncio as aioredis

from bench.common import BenchEnv, Row, alternate, median, ms, ratio
from bench.fanout import _wait_ready
from infra.bus import RedisBus, install_bus_sink, record_id_of
from models.access import actor_for_account
from models.enums import Role, UpdateStatus
from models.requests.staff import set_update_request_status
from tests.factories import make_account, make_catalog, make_district, make_request, make_token
from tests.support_graphql import gid
from tests.support_live import LiveServer, free_port, ws_client

SUBSCRIPTION = """subscription Resume($id: ID, $after: String) {
  updateRequestEvents(updateRequestId: $id, after: $after) {
    type cursor fromStatus toStatus updateRequest { id status } } }"""
WITHIN = 120.0


async def _catch_up(server: LiveServer, token: str, request_gid: str, cursor: str, behind: int) -> float:
    started = time.perf_counter()
    async with ws_client(server, token) as client:
        await client.subscribe("1", {"id": request_gid, "after": cursor}, SUBSCRIPTION)
        for _ in range(behind):
            await client.event("1", WITHIN)
        return time.perf_counter() - started


async def _read_raw(client: aioredis.Redis, key: str, after: str, behind: int) -> float:
    started = time.perf_counter()
    read, position = 0, after
    while read < behind:
        entries: Any = await client.xrange(key, f"({position}", "+", count=500)
        read += len(entries)
        position = entries[-1][0].decode()
    return time.perf_counter() - started


async def measure_resume(env: BenchEnv) -> list[Row]:
    behind = env.options.count(1000, 200)
    await make_catalog()
    district = await make_district()
    staff = await make_account(Role.HOSTING_STAFF, email="staff@bench.example")
    token = await make_token(staff)
    request = await make_request(district, requested_by=staff)
    actor = actor_for_account(staff.id, Role.HOSTING_STAFF, frozenset())
    port = free_port()
    process = env.start("serve", "serve", "--port", str(port))
    bus = RedisBus(env.redis_url, env.namespace)
    uninstall = install_bus_sink(bus)
    raw = aioredis.Redis.from_url(env.redis_url)
    try:
        await _wait_ready(port)
        server = LiveServer(app=None, port=port)  # type: ignore[arg-type]
        # A stream with no record yet has no place to resume from (such a cursor starts with a
        # SNAPSHOT): one move first, as any deployment has had.
        await set_update_request_status(actor, request.id, UpdateStatus.PENDING_INPUT, "bench")
        async with ws_client(server, token) as client:
            await client.subscribe("1", {"id": gid(request)}, SUBSCRIPTION)
            cursor = (await client.event("1", WITHIN))["cursor"]
        statuses = [UpdateStatus.TO_BE_SCHEDULED, UpdateStatus.PENDING_INPUT]
        for index in range(behind):  # real moves while the subscriber is away
            await set_update_request_status(actor, request.id, statuses[index % 2], "bench")
        after = record_id_of(cursor)
        assert after is not None
        await _catch_up(server, token, gid(request), cursor, behind)  # warm up
        key = bus.stream.key
        results = await alternate(
            {
                "service": lambda: _catch_up(server, token, gid(request), cursor, behind),
                "raw": lambda: _read_raw(raw, key, after, behind),
            },
            env.options.rounds,
        )
    finally:
        uninstall()
        await bus.close()
        await raw.aclose()
        env.stop(process)
    service, baseline = median(results["service"]), median(results["raw"])
    return [
        Row(
            f"resume {behind} events behind: reconnect -> caught up (one socket)",
            f"{ms(service)} ({behind / service:.0f} events/s)",
            ms(baseline) + " (raw XRANGE)",
            ratio(service, baseline),
        )
    ]
