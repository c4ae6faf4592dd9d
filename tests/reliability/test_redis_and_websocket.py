"""Redis restarted while requests run (a private redis-server: never the machine's shared one), and
a WebSocket subscriber dropped and reconnected."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from models.enums import UpdateStatus
from models.requests.withdrawing import cancel_update_request
from models.tables import UpdateRequest
from tests import support
from tests.factories import make_account, make_catalog, make_district, make_request, make_token
from tests.reliability.scenario import scheduled_request, staff_actor
from tests.reliability.support import Row, broken_chains, count, illegal_moves, record
from tests.schema.test_subscriptions import live_settings
from tests.support_graphql import gid
from tests.support_live import live_server, private_redis, wait_until, ws_client
from tests.workers.test_processes import Processes

DEADLINE = 60.0


@pytest.mark.reliability
@pytest.mark.slow
@pytest.mark.postgres
async def test_redis_restarted_while_requests_run(
    postgres_db: support.TestDatabase, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A worker and a scheduler on a private Redis; it is killed and started again (empty: no
    persistence) while requests are queued and running. Lost jobs come back when the scheduler
    finds their leases lapsed; every request completes, once, with lifecycle moves only."""
    rounds, per_round = count(1, 5), 6
    staff = await staff_actor()
    row = Row("Redis restarted during runs", "fault", test=request.node.nodeid)
    ids: list[int] = []
    async with private_redis(tmp_path) as redis:
        env = {
            **os.environ,
            "DATABASE_URL": postgres_db.url,
            "REDIS_URL": redis.url,
            "UPDATEDESK_REDIS_NAMESPACE": "reliability",
            "UPDATEDESK_SIMULATED_STEP_SECONDS": "0.1",
            "UPDATEDESK_SCHEDULER_INTERVAL": "0.2",
            "UPDATEDESK_STEP_RETRY_DELAY": "0",
            "UPDATEDESK_LEASE_SECONDS": "2",
            "UPDATEDESK_WORKER_HEARTBEAT_TIMEOUT": "2",
            "UPDATEDESK_WORKER_MAINTENANCE_CHANCE": "1000000",
            "UPDATEDESK_LOG_JSON": "false",
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("SMTP_URL", None)
        group = Processes(env, tmp_path)
        try:
            group.start("worker", "--threads", "2")
            group.start("scheduler")
            for _ in range(rounds):
                batch = [(await scheduled_request(staff)).id for _ in range(per_round)]
                ids.extend(batch)

                async def some_running(batch: list[int] = batch) -> bool:
                    return await UpdateRequest.filter(id__in=batch, status=UpdateStatus.IN_PROGRESS).exists()

                await wait_until(some_running, "a request of the round to be running", DEADLINE)
                await redis.stop()
                await redis.start()
                restarted = time.monotonic()

                async def all_done(batch: list[int] = batch) -> bool:
                    return (
                        not await UpdateRequest.filter(id__in=batch)
                        .exclude(status=UpdateStatus.COMPLETED)
                        .exists()
                    )

                try:
                    await wait_until(all_done, "every request of the round to complete", DEADLINE)
                    row.recovery.append(time.monotonic() - restarted)
                except AssertionError:
                    row.stuck += (
                        await UpdateRequest.filter(id__in=batch)
                        .exclude(status=UpdateStatus.COMPLETED)
                        .count()
                    )
                row.trials += 1
                row.submitted += len(batch)
        finally:
            group.stop_all()
    statuses = await UpdateRequest.filter(id__in=ids).values_list("status", flat=True)
    row.lost = sum(1 for status in statuses if status is not UpdateStatus.COMPLETED)
    row.illegal = len(await illegal_moves(ids)) + len(await broken_chains(ids))
    attempts = await UpdateRequest.filter(id__in=ids).values_list("attempts", flat=True)
    row.note = (
        f"{per_round} requests a round, restart while one runs; recovery = restart to all completed; "
        f"attempts {sorted(attempts)}"
    )
    record(row)
    row.assert_clean()


@pytest.mark.reliability
async def test_websocket_dropped_and_reconnected_gets_a_fresh_snapshot(
    db: support.TestDatabase, run_id: str, request: pytest.FixtureRequest
) -> None:
    """The subscriber's connection is cut (no close handshake); the request changes meanwhile; the
    reconnected subscriber's first event is a SNAPSHOT with the current status."""
    trials = count(5, 50)
    await make_catalog()
    district = await make_district()
    account = await make_account(districts=[district])
    token = await make_token(account)
    staff = await staff_actor()
    row = Row("WebSocket dropped and reconnected", "fault", test=request.node.nodeid)
    async with live_server(live_settings(db, run_id)) as server:
        for _ in range(trials):
            created = await make_request(district, status=UpdateStatus.TO_BE_SCHEDULED)
            variables = {"updateRequestId": gid(created)}
            async with ws_client(server, token) as client:
                await client.subscribe("one", variables)
                assert (await client.event("one"))["updateRequest"]["status"] == "TO_BE_SCHEDULED"
                client.connection.transport.abort()  # the network goes away
            await cancel_update_request(staff, created.id)
            dropped = time.monotonic()
            async with ws_client(server, token) as client:
                await client.subscribe("one", variables)
                event = await client.event("one")
            row.recovery.append(time.monotonic() - dropped)
            row.trials += 1
            row.submitted += 1
            if event["type"] != "SNAPSHOT" or event["updateRequest"]["status"] != "CANCELLED":
                row.lost += 1
    row.note = "first event after reconnecting is a SNAPSHOT with the status changed while away"
    record(row)
    row.assert_clean()
