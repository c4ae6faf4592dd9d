"""Resumable live events on a real uvicorn server with real WebSocket clients, Redis Streams as
the stream: reconnecting with the last cursor delivers exactly the missed events in order, then
live ones; every status move is visible as a move (fromStatus / toStatus chains equal the
history); a cursor older than what is kept starts with SNAPSHOTs; Redis restarted mid-stream."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from models.enums import EnvironmentKind, EventType, UpdateStatus
from models.events import UpdateRequestChanged
from models.requests.completion import complete
from models.requests.dispatch import dispatch
from models.requests.execution import begin, report_progress
from models.requests.staff import schedule_update_request, set_update_request_status
from models.requests.withdrawing import cancel_update_request
from models.tables import StatusChange
from tests.schema.test_subscriptions import REDIS_URL, Scene, live_settings, make_scene, now, refresh
from tests.support import TestDatabase
from tests.support_graphql import gid
from tests.support_live import RESUMABLE, WsClient, live_server, private_redis, ws_client

S = UpdateStatus


def moves(events: list[dict[str, Any]]) -> list[tuple[str, str | None, str | None, str]]:
    return [(e["type"], e["fromStatus"], e["toStatus"], e["updateRequest"]["status"]) for e in events]


async def events_of(client: WsClient, operation: str, count: int) -> list[dict[str, Any]]:
    return [await client.event(operation) for _ in range(count)]


async def run_to_completion(request_id: int) -> None:
    assert await dispatch(request_id)
    assert await begin(request_id) is not None
    assert await report_progress(request_id, 40, "copy", "copying data")
    await complete(request_id)


async def history_of(request_id: int) -> list[tuple[str | None, str]]:
    rows = await StatusChange.filter(update_request_id=request_id).order_by("id")
    return [(row.from_status.value if row.from_status else None, row.to_status.value) for row in rows]


async def test_reconnect_with_the_last_cursor_receives_exactly_the_missed_events(
    db: TestDatabase, run_id: str
) -> None:
    scene = await make_scene()
    token = scene.tokens["lakeside"]
    async with live_server(live_settings(db, run_id)) as server:
        async with ws_client(server, token) as client:
            await client.subscribe("d", {"districtId": gid(scene.lakeside)}, RESUMABLE)
            await client.ping_pong()
            request = await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
            created = await client.event("d")
            assert moves([created]) == [("CREATED", None, "TO_BE_SCHEDULED", "TO_BE_SCHEDULED")]
        # Gone for a while: the request moves on without the client.
        await schedule_update_request(scene.staff, request.id, now(), override_maintenance_window=True)
        await run_to_completion(request.id)

        async with ws_client(server, token) as client:
            variables = {"districtId": gid(scene.lakeside), "after": created["cursor"]}
            await client.subscribe("d", variables, RESUMABLE)
            missed = await events_of(client, "d", 5)
            assert moves(missed) == [
                ("STATUS_CHANGED", "TO_BE_SCHEDULED", "SCHEDULED", "SCHEDULED"),
                ("STATUS_CHANGED", "SCHEDULED", "NOT_STARTED", "NOT_STARTED"),
                ("STATUS_CHANGED", "NOT_STARTED", "IN_PROGRESS", "IN_PROGRESS"),
                ("PROGRESS", None, None, "IN_PROGRESS"),
                ("STATUS_CHANGED", "IN_PROGRESS", "COMPLETED", "COMPLETED"),
            ]
            assert missed[3]["progress"] == {"percent": 40}
            assert missed[4]["progress"] == {"percent": 100}
            assert len({e["cursor"] for e in [created, *missed]}) == 6
            # Then live ones, with nothing repeated at the switch-over.
            await client.ping_pong()
            assert client.unread() == []
            other = await refresh(scene, scene.lakeside, EnvironmentKind.STAGING)
            live = await client.event("d")
            assert (live["type"], live["updateRequest"]["id"]) == ("CREATED", gid(other))

            # Resuming from the middle gives the rest, on a second socket of the same process.
            async with ws_client(server, token) as again:
                await again.subscribe(
                    "d", {"districtId": gid(scene.lakeside), "after": missed[2]["cursor"]}, RESUMABLE
                )
                rest = await events_of(again, "d", 3)
                assert [e["cursor"] for e in rest] == [
                    missed[3]["cursor"],
                    missed[4]["cursor"],
                    live["cursor"],
                ]


async def test_every_move_is_visible_as_a_move(db: TestDatabase, run_id: str) -> None:
    """fromStatus -> toStatus of the move events, in order, equal the request's history."""
    scene = await make_scene()
    async with (
        live_server(live_settings(db, run_id)) as server,
        ws_client(server, scene.tokens["staff"]) as staff,
        ws_client(server, scene.tokens["lakeside"]) as district,
    ):
        await staff.subscribe("all", {}, RESUMABLE)
        await district.subscribe("d", {"districtId": gid(scene.lakeside)}, RESUMABLE)
        await staff.ping_pong()
        await district.ping_pong()
        request = await refresh(scene, scene.lakeside, EnvironmentKind.STAGING)
        await set_update_request_status(scene.staff, request.id, S.PENDING_INPUT, "Which backup?")
        await set_update_request_status(scene.staff, request.id, S.DEFERRED, "After testing week.")
        await set_update_request_status(scene.staff, request.id, S.TO_BE_SCHEDULED, "Ready again.")
        await schedule_update_request(scene.staff, request.id, now(), override_maintenance_window=True)
        await run_to_completion(request.id)
        history = await history_of(request.id)
        assert len(history) == 8
        for client, operation in ((staff, "all"), (district, "d")):
            events = await events_of(client, operation, len(history) + 1)  # and one PROGRESS
            chain = [(e["fromStatus"], e["toStatus"]) for e in events if e["type"] != "PROGRESS"]
            assert chain == history
            # Each event shows the request in the status its move ended in.
            assert all(e["updateRequest"]["status"] == e["toStatus"] for e in events if e["toStatus"])


async def test_a_cursor_older_than_the_stream_starts_with_snapshots(db: TestDatabase, run_id: str) -> None:
    scene = await make_scene()
    token = scene.tokens["lakeside"]
    settings = live_settings(db, run_id)
    async with live_server(settings) as server:
        async with ws_client(server, token) as client:
            await client.subscribe("d", {"districtId": gid(scene.lakeside)}, RESUMABLE)
            await client.ping_pong()
            first = await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
            cursor = (await client.event("d"))["cursor"]
        second = await refresh(scene, scene.lakeside, EnvironmentKind.STAGING)
        await cancel_update_request(scene.staff, first.id)
        # What the stream kept is gone (trimmed past the cursor, or lost).
        redis = aioredis.Redis.from_url(REDIS_URL)
        try:
            await redis.xtrim(f"{settings.redis_namespace}:events:stream", maxlen=0, approximate=False)
        finally:
            await redis.aclose()
        async with ws_client(server, token) as client:
            await client.subscribe("d", {"districtId": gid(scene.lakeside), "after": cursor}, RESUMABLE)
            resent = await events_of(client, "d", 2)
            # Oldest change first: the second request (created), then the first (cancelled since).
            assert [(e["type"], e["updateRequest"]["id"], e["updateRequest"]["status"]) for e in resent] == [
                ("SNAPSHOT", gid(second), "TO_BE_SCHEDULED"),
                ("REMOVED", gid(first), "CANCELLED"),
            ]
            assert all(e["fromStatus"] is None and e["toStatus"] is None for e in resent)
            await client.subscribe("one", {"updateRequestId": gid(second), "after": cursor}, RESUMABLE)
            snapshot = await client.event("one")
            assert (snapshot["type"], snapshot["updateRequest"]["status"]) == ("SNAPSHOT", "TO_BE_SCHEDULED")
            # Live events follow the SNAPSHOTs.
            await schedule_update_request(scene.staff, second.id, now(), override_maintenance_window=True)
            for operation in ("d", "one"):
                event = await client.event(operation)
                assert moves([event]) == [("STATUS_CHANGED", "TO_BE_SCHEDULED", "SCHEDULED", "SCHEDULED")]


async def test_a_malformed_cursor_is_a_validation_error_naming_after(db: TestDatabase, run_id: str) -> None:
    scene = await make_scene()
    async with (
        live_server(live_settings(db, run_id)) as server,
        ws_client(server, scene.tokens["staff"]) as client,
    ):
        for operation, cursor in (("a", "not-a-cursor"), ("b", "MTc5NjE1Nzk1NjQxNS0w")):
            await client.subscribe(operation, {"after": cursor}, RESUMABLE)
            message = await client.receive_for(operation)
            assert message["type"] == "error", message
            assert message["payload"][0]["extensions"] == {"code": "VALIDATION", "field": "after"}
        assert server.hub.member_count == 0


async def _resume_across_a_restart(db: TestDatabase, run_id: str, tmp_path: Path, persistent: bool) -> Scene:
    scene = await make_scene()
    token = scene.tokens["lakeside"]
    async with private_redis(tmp_path, persistent=persistent) as redis:
        settings = live_settings(db, run_id, redis_url=redis.url)
        async with live_server(settings) as server:
            async with ws_client(server, token) as client:
                await client.subscribe("d", {"districtId": gid(scene.lakeside)}, RESUMABLE)
                await client.ping_pong()
                request = await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
                cursor = (await client.event("d"))["cursor"]
            await schedule_update_request(scene.staff, request.id, now(), override_maintenance_window=True)
            await redis.stop()
            await redis.start()
            await set_update_request_status(scene.staff, request.id, S.PENDING_INPUT, "Which backup?")
            async with ws_client(server, token) as client:
                await client.subscribe("d", {"districtId": gid(scene.lakeside), "after": cursor}, RESUMABLE)
                events = await events_of(client, "d", 2 if persistent else 1)
                if persistent:  # the stream survived: exactly the missed moves
                    assert moves(events) == [
                        ("STATUS_CHANGED", "TO_BE_SCHEDULED", "SCHEDULED", "SCHEDULED"),
                        ("STATUS_CHANGED", "SCHEDULED", "PENDING_INPUT", "PENDING_INPUT"),
                    ]
                else:  # the stream was lost with the cursor's record: the present, as SNAPSHOTs
                    assert moves(events) == [("SNAPSHOT", None, None, "PENDING_INPUT")]
                await client.ping_pong()
                assert client.unread() == []
    return scene


async def test_redis_restarted_with_its_data_resumes_from_the_cursor(
    db: TestDatabase, run_id: str, tmp_path: Path
) -> None:
    await _resume_across_a_restart(db, run_id, tmp_path, persistent=True)


async def test_redis_restarted_without_its_data_starts_with_snapshots(
    db: TestDatabase, run_id: str, tmp_path: Path
) -> None:
    await _resume_across_a_restart(db, run_id, tmp_path, persistent=False)


async def test_a_move_whose_predecessor_never_comes_is_shown_as_a_snapshot(
    db: TestDatabase, run_id: str
) -> None:
    """A process died between its commit and its append: the next move of that request waits for
    the missing one, then reaches subscribers as a SNAPSHOT of the request as it now is."""
    scene = await make_scene()
    async with (
        live_server(live_settings(db, run_id)) as server,
        ws_client(server, scene.tokens["lakeside"]) as client,
    ):
        server.bus.hold_seconds = 0.05
        await client.subscribe("d", {"districtId": gid(scene.lakeside)}, RESUMABLE)
        await client.ping_pong()
        request = await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)  # CREATED: 1
        await schedule_update_request(scene.staff, request.id, now(), override_maintenance_window=True)  # 2
        assert moves(await events_of(client, "d", 2))[-1][3] == "SCHEDULED"

        def move(source: S, target: S, sequence: int) -> UpdateRequestChanged:
            return UpdateRequestChanged(
                EventType.STATUS_CHANGED, request.id, scene.lakeside.id, target, now(), None, source, sequence
            )

        # Move 3 (NOT_STARTED) was lost with the process that made it; moves 4 and 5 come.
        assert await server.bus.publish(move(S.NOT_STARTED, S.IN_PROGRESS, 4)) is not None
        assert await server.bus.publish(move(S.IN_PROGRESS, S.COMPLETED, 5)) is not None
        assert moves(await events_of(client, "d", 2)) == [
            ("SNAPSHOT", None, None, "SCHEDULED"),  # the database's state: the loss is healed
            ("STATUS_CHANGED", "IN_PROGRESS", "COMPLETED", "COMPLETED"),
        ]
