"""Live events across real processes (PostgreSQL and Redis): two `updatedesk serve` API
processes, an `updatedesk worker` and an `updatedesk scheduler`. The SCHEDULED move is written
by one API process, NOT_STARTED by the scheduler, IN_PROGRESS, PROGRESS and COMPLETED by the
worker: subscribers of either API process get them in history order, and a subscriber that
disconnects from one API process resumes on the other with its last cursor."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.enums import EnvironmentKind, UpdateStatus
from models.tables import UpdateRequest
from tests import support
from tests.schema.test_live_resume import history_of
from tests.schema.test_subscriptions import REDIS_URL, make_scene, refresh
from tests.support_graphql import gid
from tests.support_live import RESUMABLE, LiveServer, WsClient, free_port, wait_until, ws_client
from tests.workers.test_processes import Processes

pytestmark = pytest.mark.slow
WITHIN = 60.0
SCHEDULE = """mutation($id: ID!, $start: DateTime!) {
  scheduleUpdateRequest(id: $id, start: $start) { errors { code message } } }"""


@pytest.fixture
def processes(postgres_db: support.TestDatabase, run_id: str, tmp_path: Path) -> Iterator[Processes]:
    env = {
        **os.environ,
        "DATABASE_URL": postgres_db.url,
        "REDIS_URL": REDIS_URL,
        "UPDATEDESK_REDIS_NAMESPACE": f"{run_id}-{uuid.uuid4().hex[:6]}",
        "UPDATEDESK_SIMULATED_STEP_SECONDS": "0.05",
        "UPDATEDESK_SCHEDULER_INTERVAL": "0.2",
        "UPDATEDESK_LOG_JSON": "false",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("SMTP_URL", None)
    group = Processes(env, tmp_path)
    try:
        yield group
    finally:
        group.stop_all()


async def until_done(client: WsClient, operation: str, done: str = "COMPLETED") -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    while not events or events[-1]["toStatus"] != done:
        events.append(await client.event(operation, within=WITHIN))
    return events


def chain(events: list[dict[str, Any]]) -> list[tuple[str | None, str]]:
    return [(e["fromStatus"], e["toStatus"]) for e in events if e["toStatus"] is not None]


async def test_two_api_processes_and_a_worker_deliver_in_history_order(processes: Processes) -> None:
    scene = await make_scene()
    request = await refresh(scene, scene.lakeside, EnvironmentKind.STAGING)
    ports = [free_port(), free_port()]
    for port in ports:
        processes.start("serve", "--port", str(port))
    processes.start("worker", "--processes", "1", "--threads", "2")
    processes.start("scheduler")
    first, second = (LiveServer(app=None, port=port) for port in ports)  # type: ignore[arg-type]
    async with httpx.AsyncClient() as http:
        for server in (first, second):

            async def ready(server: LiveServer = server) -> bool:
                try:
                    return (await http.get(f"{server.http_url}/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_until(ready, "an API process to be ready", within=WITHIN)

        async with ws_client(second, scene.tokens["staff"]) as watcher:
            await watcher.subscribe("all", {}, RESUMABLE)
            async with ws_client(first, scene.tokens["lakeside"]) as leaving:
                await leaving.subscribe("one", {"updateRequestId": gid(request)}, RESUMABLE)
                assert (await leaving.event("one"))["type"] == "SNAPSHOT"
                await watcher.ping_pong()
                response = await http.post(
                    f"{second.http_url}/graphql",
                    json={
                        "query": SCHEDULE,
                        "variables": {"id": gid(request), "start": datetime.now(UTC).isoformat()},
                    },
                    headers={"Authorization": f"Bearer {scene.tokens['staff']}"},
                )
                assert response.json() == {"data": {"scheduleUpdateRequest": {"errors": []}}}
                seen_first = [await leaving.event("one", within=WITHIN)]
                assert chain(seen_first) == [("TO_BE_SCHEDULED", "SCHEDULED")]
            # Disconnected from the first API process; the worker runs the request meanwhile.
            everything = await until_done(watcher, "all")

        async def completed() -> bool:
            row = await UpdateRequest.get(id=request.id)
            return row.status is UpdateStatus.COMPLETED

        await wait_until(completed, "the worker to complete the request", within=WITHIN)
        history = await history_of(request.id)
        assert history[0] == (None, "TO_BE_SCHEDULED")
        assert chain(everything) == history[1:]
        assert any(e["type"] == "PROGRESS" for e in everything)

        # Resume on the other API process from the last cursor seen on the first one.
        async with ws_client(second, scene.tokens["lakeside"]) as back:
            after = {"updateRequestId": gid(request), "after": seen_first[-1]["cursor"]}
            await back.subscribe("one", after, RESUMABLE)
            rest = await until_done(back, "one")
            assert chain(seen_first + rest) == history[1:]
            assert [e["cursor"] for e in rest] == [e["cursor"] for e in everything[1:]]
