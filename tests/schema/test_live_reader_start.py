"""Where a process's stream reading begins and ends. An API process that started while Redis was
unreachable: its reader begins at the stream's newest record once Redis answers, and a client
resuming before any new record came still gets every kept record after its cursor (the records
before the reader's start never come live). The embedded stream past its retention."""

from __future__ import annotations

from pathlib import Path

import pytest

import updatedesk.live
from infra.bus import MemoryStream
from models.enums import EnvironmentKind, UpdateStatus
from models.requests.staff import set_update_request_status
from models.requests.withdrawing import cancel_update_request
from tests.factories import actor_of
from tests.schema.test_live_resume import events_of, moves
from tests.schema.test_subscriptions import live_settings, make_scene, refresh
from tests.support import TestDatabase
from tests.support_graphql import gid
from tests.support_live import RESUMABLE, live_server, private_redis, wait_until, ws_client


async def test_a_resume_on_a_process_whose_reader_started_late_misses_nothing(
    db: TestDatabase, run_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scene = await make_scene()
    token = scene.tokens["lakeside"]
    district = {"districtId": gid(scene.lakeside)}
    async with private_redis(tmp_path, persistent=True) as redis:
        settings = live_settings(db, run_id, redis_url=redis.url)
        async with live_server(settings) as server, ws_client(server, token) as client:
            await client.subscribe("d", district, RESUMABLE)
            await client.ping_pong()
            request = await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
            created = await client.event("d")
            await set_update_request_status(scene.staff, request.id, UpdateStatus.DEFERRED, "Later.")
            await client.event("d")
        await redis.stop()
        monkeypatch.setattr(updatedesk.live, "BUS_READY_TIMEOUT_SECONDS", 0.05)
        async with live_server(settings) as server:
            await redis.start()  # its data back: the stream keeps both records
            state = server.bus.follow_state
            await wait_until(
                lambda: state.listening.is_set() and state.position is not None, "the reader to start"
            )
            async with ws_client(server, token) as client:
                await client.subscribe("d", {**district, "after": created["cursor"]}, RESUMABLE)
                assert moves([await client.event("d")]) == [
                    ("STATUS_CHANGED", "TO_BE_SCHEDULED", "DEFERRED", "DEFERRED")
                ]
                await client.ping_pong()
                assert client.unread() == []


async def test_the_embedded_stream_past_its_retention_resumes_with_the_present(
    db: TestDatabase, run_id: str
) -> None:
    """No Redis: a cursor whose record the in-process stream no longer keeps starts with the
    present (SNAPSHOT, REMOVED for what was cancelled since), then live events."""
    scene = await make_scene()
    token = scene.tokens["lakeside"]
    district = {"districtId": gid(scene.lakeside)}
    async with live_server(live_settings(db, run_id, redis_url=None)) as server:
        async with ws_client(server, token) as client:
            await client.subscribe("d", district, RESUMABLE)
            await client.ping_pong()
            first = await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
            created = await client.event("d")
        stream = server.bus.stream
        assert isinstance(stream, MemoryStream)
        stream.retain_entries, stream.retain_seconds = 1, 0  # keeps only the newest record
        second = await refresh(scene, scene.lakeside, EnvironmentKind.STAGING)
        await cancel_update_request(await actor_of(scene.lakeside_tc), first.id)
        assert len(stream) == 1
        async with ws_client(server, token) as client:
            await client.subscribe("d", {**district, "after": created["cursor"]}, RESUMABLE)
            resent = await events_of(client, "d", 2)
            assert [(e["type"], e["updateRequest"]["id"]) for e in resent] == [
                ("SNAPSHOT", gid(second)),
                ("REMOVED", gid(first)),
            ]
            await client.ping_pong()
            assert client.unread() == []
            await set_update_request_status(scene.staff, second.id, UpdateStatus.DEFERRED, "Later.")
            assert moves([await client.event("d")]) == [
                ("STATUS_CHANGED", "TO_BE_SCHEDULED", "DEFERRED", "DEFERRED")
            ]
