"""Resynchronising live subscriptions (`resolvers.live.dispatch.snapshots`, `catchup`): after the
stream was unreachable, and for a cursor the stream cannot resume from (older than what it keeps,
a SNAPSHOT's cursor taken on an empty stream, a cursor from ahead of this stream), subscribers get
SNAPSHOTs of the present; more changes than are resent keep the newest and say so (1013).

The embedded stream (no Redis): the rules live above the stream, the same for both."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis

from infra.bus import Gap, public_cursor
from models.enums import EnvironmentKind, UpdateStatus
from models.requests.staff import set_update_request_status
from models.tables import UpdateRequest
from resolvers.live import dispatch
from resolvers.live.outbox import CLOSE_TOO_SLOW, REASON_INCOMPLETE
from tests.schema.test_live_resume import moves
from tests.schema.test_subscriptions import (
    REDIS_URL,
    Scene,
    live_settings,
    make_scene,
    preview_update,
    refresh,
)
from tests.support import TestDatabase
from tests.support_graphql import gid
from tests.support_live import RESUMABLE, WsClient, live_server, ws_client


def shown(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["type"], e["updateRequest"]["id"]) for e in events]


async def requests_changed_in_turn(scene: Scene) -> list[UpdateRequest]:
    """Three lakeside requests, each changed a second after the one before (oldest first)."""
    made = [
        await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX),
        await refresh(scene, scene.lakeside, EnvironmentKind.STAGING),
        await preview_update(scene, scene.lakeside),
    ]
    base = datetime.now(UTC) - timedelta(seconds=30)
    for turn, request in enumerate(made):
        await UpdateRequest.filter(id=request.id).update(updated_at=base + timedelta(seconds=turn))
    return made


async def snapshots_then_close(client: WsClient, operation: str, count: int) -> list[dict[str, Any]]:
    events = [await client.event(operation) for _ in range(count)]
    code, reason = await client.closed()
    assert (code, reason) == (CLOSE_TOO_SLOW, REASON_INCOMPLETE)
    assert client.unread() == []  # nothing more than the newest `count`
    return events


async def test_a_resync_with_more_changes_than_the_limit_sends_the_newest_and_says_so(
    db: TestDatabase, run_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stream was unreachable; three requests changed meanwhile, two are resent: the newest
    two, oldest change first, then the socket closes with 1013 (reload, resubscribe)."""
    scene = await make_scene()
    monkeypatch.setattr(dispatch, "RESYNC_LIMIT", 2)
    async with (
        live_server(live_settings(db, run_id, redis_url=None)) as server,
        ws_client(server, scene.tokens["lakeside"]) as client,
    ):
        await client.subscribe("d", {"districtId": gid(scene.lakeside)}, RESUMABLE)
        await client.ping_pong()
        _, second, third = await requests_changed_in_turn(scene)
        assert [e["type"] for e in [await client.event("d") for _ in range(3)]] == ["CREATED"] * 3
        await server.hub.on_gap(Gap("reconnected", since=datetime.now(UTC) - timedelta(minutes=1)))
        resent = await snapshots_then_close(client, "d", 2)
        assert shown(resent) == [("SNAPSHOT", gid(second)), ("SNAPSHOT", gid(third))]


async def test_a_resync_within_the_limit_sends_every_change_and_stays_open(
    db: TestDatabase, run_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    scene = await make_scene()
    monkeypatch.setattr(dispatch, "RESYNC_LIMIT", 3)
    async with (
        live_server(live_settings(db, run_id, redis_url=None)) as server,
        ws_client(server, scene.tokens["lakeside"]) as client,
    ):
        await client.subscribe("d", {"districtId": gid(scene.lakeside)}, RESUMABLE)
        await client.ping_pong()
        made = await requests_changed_in_turn(scene)
        for _ in made:
            await client.event("d")
        await server.hub.on_gap(Gap("reconnected", since=datetime.now(UTC) - timedelta(minutes=1)))
        resent = [await client.event("d") for _ in made]
        assert shown(resent) == [("SNAPSHOT", gid(request)) for request in made]
        await client.ping_pong()
        assert client.unread() == []


async def test_an_expired_cursor_with_more_changes_than_the_limit_gets_the_newest_and_is_told(
    db: TestDatabase, run_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cursor the stream does not keep (older than the requests' changes): the newest changes
    as SNAPSHOTs, oldest first, then 1013; resuming from the last SNAPSHOT's cursor does not loop."""
    scene = await make_scene()
    monkeypatch.setattr(dispatch, "RESYNC_LIMIT", 2)
    expired = public_cursor(f"{int(time.time() * 1000) - 60_000}-0")
    district = {"districtId": gid(scene.lakeside)}
    async with live_server(live_settings(db, run_id, redis_url=None)) as server:
        first, second, third = await requests_changed_in_turn(scene)
        async with ws_client(server, scene.tokens["lakeside"]) as client:
            await client.subscribe("d", {**district, "after": expired}, RESUMABLE)
            resent = await snapshots_then_close(client, "d", 2)
            assert shown(resent) == [("SNAPSHOT", gid(second)), ("SNAPSHOT", gid(third))]
        async with ws_client(server, scene.tokens["lakeside"]) as client:
            await client.subscribe("d", {**district, "after": resent[-1]["cursor"]}, RESUMABLE)
            await client.ping_pong()
            assert client.unread() == []  # nothing changed since: nothing resent, still open
            await set_update_request_status(scene.staff, first.id, UpdateStatus.DEFERRED, "Later.")
            assert moves([await client.event("d")]) == [
                ("STATUS_CHANGED", "TO_BE_SCHEDULED", "DEFERRED", "DEFERRED")
            ]


async def test_a_snapshot_taken_on_an_empty_stream_resumes_with_what_changed_since(
    db: TestDatabase, run_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stream is empty (a new deployment, or Redis lost its data) when a client's first event,
    a SNAPSHOT, comes. Resuming from its cursor sends what changed since, not every request
    ever (the oldest of which, past the limit, pushed the real change out)."""
    scene = await make_scene()
    monkeypatch.setattr(dispatch, "RESYNC_LIMIT", 2)
    older = await requests_changed_in_turn(scene)  # before the server: the stream never saw them
    watched = older[0]
    await UpdateRequest.filter(id=watched.id).update(updated_at=datetime.now(UTC) - timedelta(minutes=1))
    async with live_server(live_settings(db, run_id, redis_url=None)) as server:
        assert await server.bus.stream.last_id() is None
        async with ws_client(server, scene.tokens["lakeside"]) as client:
            await client.subscribe("one", {"updateRequestId": gid(watched)}, RESUMABLE)
            snapshot = await client.event("one")
            assert shown([snapshot]) == [("SNAPSHOT", gid(watched))]
        await set_update_request_status(scene.staff, watched.id, UpdateStatus.DEFERRED, "Later.")
        async with ws_client(server, scene.tokens["lakeside"]) as client:
            after = {"districtId": gid(scene.lakeside), "after": snapshot["cursor"]}
            await client.subscribe("d", after, RESUMABLE)
            resent = await client.event("d")
            assert (resent["type"], resent["updateRequest"]["id"]) == ("SNAPSHOT", gid(watched))
            assert resent["updateRequest"]["status"] == "DEFERRED"
            await client.ping_pong()
            assert client.unread() == []


async def test_a_cursor_from_ahead_of_the_stream_starts_with_snapshots(db: TestDatabase, run_id: str) -> None:
    """A cursor after the stream's newest record (Redis lost its data and its clock now runs
    behind the cursor's, or the cursor is another stream's): the stream cannot vouch for it, so
    what changed in the stream's time comes as SNAPSHOTs, then live events."""
    scene = await make_scene()
    ahead = public_cursor(f"{int(time.time() * 1000) + 3_600_000}-0")
    district = {"districtId": gid(scene.lakeside)}
    async with live_server(live_settings(db, run_id, redis_url=None)) as server:
        request = await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
        await set_update_request_status(scene.staff, request.id, UpdateStatus.DEFERRED, "Later.")
        async with ws_client(server, scene.tokens["lakeside"]) as client:
            await client.subscribe("d", {**district, "after": ahead}, RESUMABLE)
            resent = await client.event("d")
            assert (resent["type"], resent["updateRequest"]["status"]) == ("SNAPSHOT", "DEFERRED")
            await client.ping_pong()
            assert client.unread() == []
            await set_update_request_status(scene.staff, request.id, UpdateStatus.TO_BE_SCHEDULED, "Now.")
            assert moves([await client.event("d")]) == [
                ("STATUS_CHANGED", "DEFERRED", "TO_BE_SCHEDULED", "TO_BE_SCHEDULED")
            ]


async def test_a_cursor_from_ahead_of_an_emptied_redis_stream_resends_everything_once(
    db: TestDatabase, run_id: str
) -> None:
    """Redis Streams, emptied (its data lost): a cursor from ahead of this clock cannot be placed,
    so every request in scope comes as a SNAPSHOT; the SNAPSHOTs' cursor resumes without them."""
    scene = await make_scene()
    settings = live_settings(db, run_id)
    ahead = public_cursor(f"{int(time.time() * 1000) + 3_600_000}-0")
    district = {"districtId": gid(scene.lakeside)}
    async with live_server(settings) as server:
        async with ws_client(server, scene.tokens["lakeside"]) as client:
            await client.subscribe("d", district, RESUMABLE)
            await client.ping_pong()
            made = await requests_changed_in_turn(scene)
            for _ in made:
                await client.event("d")
        redis = aioredis.Redis.from_url(REDIS_URL)
        try:
            await redis.delete(f"{settings.redis_namespace}:events:stream")
        finally:
            await redis.aclose()
        async with ws_client(server, scene.tokens["lakeside"]) as client:
            await client.subscribe("d", {**district, "after": ahead}, RESUMABLE)
            resent = [await client.event("d") for _ in made]
            assert shown(resent) == [("SNAPSHOT", gid(request)) for request in made]
            await client.ping_pong()
            assert client.unread() == []
        async with ws_client(server, scene.tokens["lakeside"]) as client:
            await client.subscribe("d", {**district, "after": resent[-1]["cursor"]}, RESUMABLE)
            await client.ping_pong()
            assert client.unread() == []
