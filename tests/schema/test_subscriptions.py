"""`updateRequestEvents` end to end: the real app on uvicorn (on this test's event loop), a real
WebSocket client, the events raised by the domain operations, Redis as the bus.

Every test runs on SQLite and PostgreSQL (the `db` fixture); Redis channels are namespaced by
`run_id`, so concurrent runs on this machine never see each other's events.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.settings import Settings
from models.access import Actor
from models.enums import EnvironmentKind, Role, UpdateKind, UpdateStatus
from models.requests.completion import complete
from models.requests.dispatch import dispatch
from models.requests.execution import begin, report_progress
from models.requests.requesting import request_update
from models.requests.staff import schedule_update_request, set_update_request_status
from models.requests.withdrawing import cancel_update_request, delete_update_request
from models.tables import Account, District, UpdateRequest
from models.tokens import revoke_token
from tests.factories import actor_of, make_account, make_catalog, make_district, make_request, make_token
from tests.support import TestDatabase
from tests.support_graphql import gid
from tests.support_live import (
    REDIS_URL,
    RESUMABLE,
    LiveServer,
    live_server,
    private_redis,
    wait_until,
    ws_client,
)


async def listening(server: LiveServer, count: int) -> None:
    """Wait until `count` subscriptions listen on the server's live hub."""
    await wait_until(lambda: server.app.state.hub.member_count == count, f"{count} subscriptions to listen")


def live_settings(
    db: TestDatabase, run_id: str, *, redis_url: str | None = REDIS_URL, **values: Any
) -> Settings:
    options: dict[str, Any] = {
        "database_url": db.url,
        "redis_url": redis_url,
        "redis_namespace": f"{run_id}-{uuid.uuid4().hex[:8]}",
        "ws_auth_recheck_seconds": 0,  # re-check the token on every event
    }
    options.update(values)
    return Settings(**options)


@dataclass
class Scene:
    lakeside: District
    riverside: District
    lakeside_tc: Account
    riverside_tc: Account
    staff: Actor
    tokens: dict[str, str]


async def make_scene() -> Scene:
    await make_catalog()
    lakeside = await make_district("Lakeside Public Schools")
    riverside = await make_district("Riverside Unified")
    lakeside_tc = await make_account(Role.TECHNICAL_CONTACT, [lakeside], email="tc@lakeside.example")
    riverside_tc = await make_account(Role.TECHNICAL_CONTACT, [riverside], email="tc@riverside.example")
    staff = await make_account(Role.HOSTING_STAFF, email="ops@hosting.example")
    tokens = {
        "lakeside": await make_token(lakeside_tc),
        "riverside": await make_token(riverside_tc),
        "staff": await make_token(staff),
    }
    return Scene(lakeside, riverside, lakeside_tc, riverside_tc, await actor_of(staff), tokens)


async def refresh(scene: Scene, district: District, environment: EnvironmentKind) -> UpdateRequest:
    """A database refresh asked for by the district's technical contact (raises CREATED)."""
    tc = scene.lakeside_tc if district.id == scene.lakeside.id else scene.riverside_tc
    return await request_update(
        await actor_of(tc), district_id=district.id, kind=UpdateKind.DATABASE_REFRESH, environment=environment
    )


async def preview_update(scene: Scene, district: District) -> UpdateRequest:
    """A version update of the preview site (raises CREATED)."""
    tc = scene.lakeside_tc if district.id == scene.lakeside.id else scene.riverside_tc
    return await request_update(
        await actor_of(tc),
        district_id=district.id,
        kind=UpdateKind.VERSION_UPDATE,
        environment=EnvironmentKind.PREVIEW,
        target_version="Campus.2435.4",
    )


def now() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------- the happy path


async def test_snapshot_then_every_status_through_completed(db: TestDatabase, run_id: str) -> None:
    scene = await make_scene()
    request = await make_request(scene.lakeside, status=UpdateStatus.TO_BE_SCHEDULED)
    async with (
        live_server(live_settings(db, run_id)) as server,
        ws_client(server, scene.tokens["lakeside"]) as client,
        ws_client(server, scene.tokens["staff"]) as staff,
    ):
        await client.subscribe("one", {"updateRequestId": gid(request)})
        await client.subscribe("all")
        await staff.subscribe("all")
        snapshot = await client.event("one")
        assert snapshot["type"] == "SNAPSHOT"
        assert snapshot["updateRequest"] == {
            "id": gid(request),
            "status": "TO_BE_SCHEDULED",
            "district": {"id": gid(scene.lakeside), "name": "Lakeside Public Schools"},
        }
        await listening(server, 3)

        async def schedule() -> None:
            await schedule_update_request(scene.staff, request.id, now(), override_maintenance_window=True)

        async def dispatch_it() -> None:
            assert await dispatch(request.id)

        async def begin_it() -> None:
            assert await begin(request.id) is not None

        async def progress() -> None:
            assert await report_progress(request.id, 40, "copy", "copying data")

        async def complete_it() -> None:
            await complete(request.id)

        # Each event carries the request as it now is: step by step, each shows its own move.
        steps = [
            (schedule, "STATUS_CHANGED", "SCHEDULED"),
            (dispatch_it, "STATUS_CHANGED", "NOT_STARTED"),
            (begin_it, "STATUS_CHANGED", "IN_PROGRESS"),
            (progress, "PROGRESS", "IN_PROGRESS"),
            (complete_it, "STATUS_CHANGED", "COMPLETED"),
        ]
        for step, kind, status in steps:
            await step()
            event = await client.event("one")
            assert (event["type"], event["updateRequest"]["status"]) == (kind, status)
            assert datetime.fromisoformat(event["at"]).tzinfo is not None
            if kind == "PROGRESS":
                assert event["progress"] == {"percent": 40, "step": "copy"}
            for subscriber in (client, staff):  # the unnarrowed streams show the same move
                while (other := await subscriber.event("all"))["updateRequest"]["id"] != gid(request):
                    pass  # staff also sees the automatic sandbox update that follows production
                assert (other["type"], other["updateRequest"]["status"]) == (kind, status)
        assert event["progress"]["percent"] == 100


async def test_created_and_removed_on_cancel_and_delete(db: TestDatabase, run_id: str) -> None:
    scene = await make_scene()
    done = await make_request(scene.lakeside, kind=UpdateKind.DATABASE_REFRESH,
                              environment=EnvironmentKind.STAGING, status=UpdateStatus.COMPLETED)  # fmt: skip
    async with (
        live_server(live_settings(db, run_id)) as server,
        ws_client(server, scene.tokens["lakeside"]) as client,
    ):
        await client.subscribe("district", {"districtId": gid(scene.lakeside)})
        await client.subscribe("done", {"updateRequestId": gid(done)})
        assert (await client.event("done"))["type"] == "SNAPSHOT"
        await listening(server, 2)

        created = await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
        event = await client.event("district")
        assert (event["type"], event["updateRequest"]["id"]) == ("CREATED", gid(created))
        assert event["updateRequest"]["status"] == "TO_BE_SCHEDULED"

        tc = await actor_of(scene.lakeside_tc)
        await cancel_update_request(tc, created.id)
        event = await client.event("district")
        assert (event["type"], event["updateRequest"]["status"]) == ("REMOVED", "CANCELLED")

        await delete_update_request(tc, done.id)
        for operation in ("district", "done"):
            event = await client.event(operation)
            assert (event["type"], event["updateRequest"]["id"]) == ("REMOVED", gid(done))
            assert event["updateRequest"]["status"] == "COMPLETED"
        # A single-request subscription ends with its REMOVED: the server completes it.
        assert await client.receive_for("done") == {"id": "done", "type": "complete"}


# --------------------------------------------------------------------------- authorization


async def test_foreign_district_events_are_never_delivered(db: TestDatabase, run_id: str) -> None:
    scene = await make_scene()
    foreign = await make_request(scene.riverside)
    async with (
        live_server(live_settings(db, run_id)) as server,
        ws_client(server, scene.tokens["lakeside"]) as lakeside,
        ws_client(server, scene.tokens["riverside"]) as riverside,
    ):
        # Foreign and missing ids are the same NOT_FOUND, as the operation's only message.
        answers = []
        for variables in (
            {"updateRequestId": gid(foreign)},
            {"updateRequestId": "VXBkYXRlUmVxdWVzdDo5OTk5OTk="},  # UpdateRequest:999999
            {"districtId": gid(scene.riverside)},
            {"districtId": "RGlzdHJpY3Q6OTk5OTk5"},  # District:999999
            {"districtId": gid(scene.lakeside), "updateRequestId": gid(foreign)},
        ):
            await lakeside.subscribe("probe", variables)
            message = await lakeside.receive_for("probe")
            assert message["type"] == "error", message
            answers.append([(e["message"], e["extensions"]) for e in message["payload"]])
        assert answers[0] == answers[1] == answers[4]
        assert answers[2] == answers[3]
        assert answers[0][0][1]["code"] == answers[2][0][1]["code"] == "NOT_FOUND"

        await lakeside.subscribe("all")
        await riverside.subscribe("all")
        await lakeside.subscribe("mine", {"districtId": gid(scene.lakeside)})
        # A pong only says the socket is read; the subscriptions listen once they are on the bus
        # (each first re-checks the caller's access, which takes a query).
        await listening(server, 3)

        # Interleaved activity in both districts; the last request of each is the sentinel.
        made: dict[int, list[UpdateRequest]] = {scene.lakeside.id: [], scene.riverside.id: []}
        for environment in (EnvironmentKind.SANDBOX, EnvironmentKind.STAGING):
            for district in (scene.lakeside, scene.riverside):
                made[district.id].append(await refresh(scene, district, environment))
        await set_update_request_status(scene.staff, foreign.id, UpdateStatus.DEFERRED, "waiting")
        lakeside_actor = await actor_of(scene.lakeside_tc)
        await cancel_update_request(lakeside_actor, made[scene.lakeside.id][0].id)
        sentinels = {}
        for district in (scene.riverside, scene.lakeside):
            sentinels[district.id] = gid(await preview_update(scene, district))

        for client, operation, district in (
            (lakeside, "all", scene.lakeside),
            (lakeside, "mine", scene.lakeside),
            (riverside, "all", scene.riverside),
        ):
            events: list[dict[str, Any]] = []
            while not events or events[-1]["updateRequest"]["id"] != sentinels[district.id]:
                events.append(await client.event(operation))
            assert {e["updateRequest"]["district"]["id"] for e in events} == {gid(district)}
            assert {gid(row) for row in made[district.id]} <= {e["updateRequest"]["id"] for e in events}
        for client, district in ((lakeside, scene.lakeside), (riverside, scene.riverside)):
            await client.ping_pong()
            for message in client.unread():
                event = message["payload"]["data"]["updateRequestEvents"]
                assert event["updateRequest"]["district"]["id"] == gid(district)


async def test_access_is_checked_per_event(db: TestDatabase, run_id: str) -> None:
    scene = await make_scene()
    request = await make_request(scene.lakeside)
    async with live_server(live_settings(db, run_id)) as server:
        # A removed district link stops the narrowed flows; the unnarrowed one goes on without it.
        async with ws_client(server, scene.tokens["lakeside"]) as client:
            await client.subscribe("one", {"updateRequestId": gid(request)})
            await client.subscribe("district", {"districtId": gid(scene.lakeside)})
            await client.subscribe("all")
            assert (await client.event("one"))["type"] == "SNAPSHOT"
            await listening(server, 3)
            await scene.lakeside_tc.districts.remove(scene.lakeside)
            await schedule_update_request(scene.staff, request.id, now(),
                                                     override_maintenance_window=True)  # fmt: skip
            for operation in ("one", "district"):
                message = await client.receive_for(operation)
                assert message["type"] == "next", message
                assert message["payload"]["errors"][0]["extensions"]["code"] == "NOT_FOUND"
                assert await client.receive_for(operation) == {"id": operation, "type": "complete"}
            await scene.lakeside_tc.districts.add(scene.riverside)
            sentinel = await refresh(scene, scene.riverside, EnvironmentKind.SANDBOX)
            event = await client.event("all")
            assert event["updateRequest"]["id"] == gid(sentinel)  # nothing of Lakeside came first

        # A revoked token closes the socket at the next event.
        token = scene.tokens["riverside"]
        async with ws_client(server, token) as client:
            await client.subscribe("all")
            await listening(server, 1)
            assert await revoke_token(token)
            await refresh(scene, scene.riverside, EnvironmentKind.STAGING)
            code, reason = await client.closed()
            assert code == 4403 and reason and "revoked" in reason
            assert not [m for m in client.unread() if m.get("type") == "next"]


# --------------------------------------------------------------------------- multi-instance


async def test_event_raised_through_one_api_process_reaches_another(db: TestDatabase, run_id: str) -> None:
    """Two API servers, each with its own RedisBus on one channel: a mutation over HTTP on one
    reaches a subscriber of the other (and of itself)."""
    scene = await make_scene()
    request = await make_request(scene.lakeside)
    settings = live_settings(db, run_id)
    from contextlib import asynccontextmanager

    from infra.bus import RedisBus
    from updatedesk.live import attach_bus

    @asynccontextmanager
    async def listen_only(app: Any) -> Any:
        # The second "process" listens with its own Redis subscription. It installs no publishing
        # sink: in one test process that would publish every event twice.
        assert settings.redis_url
        async with RedisBus(settings.redis_url, settings.redis_namespace) as bus:
            await asyncio.wait_for(bus.listening.wait(), 10)
            attach_bus(app, bus)
            yield

    async with (
        live_server(settings) as first,
        live_server(settings, live=False, extra_lifespans=[listen_only]) as second,
        ws_client(second, scene.tokens["lakeside"]) as on_second,
        ws_client(first, scene.tokens["lakeside"]) as on_first,
    ):
        await on_second.subscribe("one", {"updateRequestId": gid(request)})
        await on_first.subscribe("one", {"updateRequestId": gid(request)})
        for client in (on_first, on_second):
            assert (await client.event("one"))["type"] == "SNAPSHOT"
        async with httpx.AsyncClient(base_url=first.http_url) as http:
            response = await http.post(
                "/graphql",
                json={"query": "mutation($id: ID!) { cancelUpdateRequest(id: $id) { errors { code } } }",
                      "variables": {"id": gid(request)}},
                headers={"Authorization": f"Bearer {scene.tokens['lakeside']}"},
            )  # fmt: skip
            assert response.json() == {"data": {"cancelUpdateRequest": {"errors": []}}}
        for client in (on_first, on_second):
            event = await client.event("one")
            assert (event["type"], event["updateRequest"]["status"]) == ("REMOVED", "CANCELLED")


@pytest.mark.postgres
async def test_event_reaches_a_second_os_process(db: TestDatabase, run_id: str) -> None:
    """`updatedesk serve` in its own process, sharing PostgreSQL and Redis with this one."""
    if not db.is_postgres:
        pytest.skip("a second process shares the database: PostgreSQL")
    from tests.support_live import free_port

    scene = await make_scene()
    request = await make_request(scene.lakeside)
    settings = live_settings(db, run_id)
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": db.url,
        "REDIS_URL": settings.redis_url or "",
        "UPDATEDESK_REDIS_NAMESPACE": settings.redis_namespace,
        "UPDATEDESK_LOG_JSON": "false",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "updatedesk.cli", "serve", "--port", str(port), env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:

            async def ready() -> bool:
                if process.returncode is not None:
                    raise AssertionError("updatedesk serve exited early")
                try:
                    return (await http.get("/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_until(ready, "the second API process", within=30)
            other = LiveServer(app=None, port=port)  # type: ignore[arg-type]
            async with (
                live_server(settings) as here,
                ws_client(other, scene.tokens["lakeside"]) as there_client,
                ws_client(here, scene.tokens["lakeside"]) as here_client,
            ):
                await there_client.subscribe("one", {"updateRequestId": gid(request)})
                await here_client.subscribe("one", {"updateRequestId": gid(request)})
                for client in (there_client, here_client):
                    assert (await client.event("one"))["type"] == "SNAPSHOT"
                # Raised here (domain operation, this process's bus) -> seen there.
                await schedule_update_request(scene.staff, request.id, now(),
                                                         override_maintenance_window=True)  # fmt: skip
                for client in (there_client, here_client):
                    assert (await client.event("one"))["updateRequest"]["status"] == "SCHEDULED"
                # Raised there (mutation over HTTP on the other process) -> seen here.
                response = await http.post(
                    "/graphql",
                    json={"query": "mutation($id: ID!) { cancelUpdateRequest(id: $id) { errors { code } } }",
                          "variables": {"id": gid(request)}},
                    headers={"Authorization": f"Bearer {scene.tokens['lakeside']}"},
                )  # fmt: skip
                assert response.json() == {"data": {"cancelUpdateRequest": {"errors": []}}}
                for client in (here_client, there_client):
                    event = await client.event("one")
                    assert (event["type"], event["updateRequest"]["status"]) == ("REMOVED", "CANCELLED")
    finally:
        if process.returncode is None:
            process.terminate()
        await asyncio.wait_for(process.wait(), 15)


# --------------------------------------------------------------------------- Redis outage


async def test_redis_restart_keeps_sockets_and_sends_a_fresh_snapshot(
    db: TestDatabase, run_id: str, tmp_path: Path
) -> None:
    scene = await make_scene()
    request = await make_request(scene.lakeside)
    async with private_redis(tmp_path) as redis:
        settings = live_settings(db, run_id, redis_url=redis.url)
        async with (
            live_server(settings) as server,
            ws_client(server, scene.tokens["lakeside"]) as client,
        ):
            from infra.bus import RedisBus

            bus = server.bus
            assert isinstance(bus, RedisBus)
            await client.subscribe("one", {"updateRequestId": gid(request)})
            await client.subscribe("district", {"districtId": gid(scene.lakeside)})
            assert (await client.event("one"))["type"] == "SNAPSHOT"
            await listening(server, 2)

            await redis.stop()
            await wait_until(lambda: not bus.listening.is_set(), "the listener to notice the outage")
            # Changed while Redis is down: the event is lost (publishing fails, logged).
            await schedule_update_request(scene.staff, request.id, now(),
                                                     override_maintenance_window=True)  # fmt: skip
            await client.ping_pong()  # the socket is still open
            await redis.start()

            # Each subscription resynchronises: the single request, and what changed in the district.
            for operation in ("one", "district"):
                snapshot = await client.event(operation)
                assert (snapshot["type"], snapshot["updateRequest"]["status"]) == ("SNAPSHOT", "SCHEDULED")
                assert snapshot["updateRequest"]["id"] == gid(request)
            assert bus.reconnects == 1
            # And events flow again, on both subscriptions.
            await cancel_update_request(scene.staff, request.id)
            for operation in ("one", "district"):
                event = await client.event(operation)
                assert (event["type"], event["updateRequest"]["status"]) == ("REMOVED", "CANCELLED")
            assert [m for m in client.unread() if m.get("type") == "next"] == []


async def test_a_move_whose_append_was_lost_reaches_subscribers_as_a_move(
    db: TestDatabase, run_id: str
) -> None:
    """The writer cannot reach Redis for one append while every reader can: no outage is seen,
    so no SNAPSHOT heals it. The scheduler's sweep (its own process and bus) announces the move."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    from infra.bus import RedisBus
    from workers.announcements import SETTLE_SECONDS, Reannouncer

    scene = await make_scene()
    request = await make_request(scene.lakeside)
    settings = live_settings(db, run_id)
    async with (
        live_server(settings) as server,
        ws_client(server, scene.tokens["lakeside"]) as client,
        RedisBus(settings.redis_url or "", settings.redis_namespace) as scheduler_bus,
    ):
        bus = server.bus
        assert isinstance(bus, RedisBus)
        await client.subscribe("one", {"updateRequestId": gid(request)}, query=RESUMABLE)
        assert (await client.event("one"))["type"] == "SNAPSHOT"
        await listening(server, 1)
        await set_update_request_status(scene.staff, request.id, UpdateStatus.PENDING_INPUT, "details?")
        assert (await client.event("one"))["toStatus"] == "PENDING_INPUT"

        append = bus.stream.append

        async def unreachable(*args: Any, **kwargs: Any) -> Any:
            raise RedisConnectionError("Redis is unreachable from this process")

        bus.stream.append = unreachable  # type: ignore[method-assign]
        try:
            await set_update_request_status(scene.staff, request.id, UpdateStatus.TO_BE_SCHEDULED, "thanks")
        finally:
            bus.stream.append = append  # type: ignore[method-assign]
        await client.ping_pong()
        assert [m for m in client.unread() if m.get("type") == "next"] == []  # nothing told them

        settled = now() + timedelta(seconds=SETTLE_SECONDS + 1)
        assert len(await Reannouncer(scheduler_bus).sweep(now=settled)) == 1
        event = await client.event("one")
        assert (event["type"], event["fromStatus"], event["toStatus"]) == (
            "STATUS_CHANGED", "PENDING_INPUT", "TO_BE_SCHEDULED",
        )  # fmt: skip
        assert event["updateRequest"]["status"] == "TO_BE_SCHEDULED"
        assert await Reannouncer(scheduler_bus).sweep(now=settled) == []  # once


# --------------------------------------------------------------------------- metrics


async def test_open_subscriptions_are_counted_in_metrics(db: TestDatabase, run_id: str) -> None:
    scene = await make_scene()

    async def open_subscriptions(http: httpx.AsyncClient) -> float:
        text = (await http.get("/metrics")).text
        line = next(line for line in text.splitlines() if line.startswith("updatedesk_open_subscriptions "))
        return float(line.split()[1])

    async with (
        live_server(live_settings(db, run_id)) as server,
        httpx.AsyncClient(base_url=server.http_url) as http,
    ):
        before = await open_subscriptions(http)
        async with ws_client(server, scene.tokens["lakeside"]) as client:
            await client.subscribe("district", {"districtId": gid(scene.lakeside)})
            await client.subscribe("all")
            await client.ping_pong()

            async def both_open() -> bool:
                return await open_subscriptions(http) == before + 2

            await wait_until(both_open, "two subscriptions counted")

        async def all_closed() -> bool:
            return await open_subscriptions(http) == before

        await wait_until(all_closed, "the closed socket's subscriptions uncounted")
