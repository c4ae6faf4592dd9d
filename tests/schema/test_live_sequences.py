"""Ordinary sequences against `updateRequestEvents`: supersession seen from a subscription to the
older request (its moves chain exactly as its history, into NEW_VERSION_REQUESTED and out of it),
and two subscriptions of one socket sharing one rendering when one of them completes."""

from __future__ import annotations

from typing import Any

from models.enums import EnvironmentKind, UpdateKind, UpdateStatus
from models.requests.requesting import request_update
from models.requests.staff import schedule_update_request
from models.requests.withdrawing import cancel_update_request
from models.tables import UpdateRequest
from tests.factories import actor_of
from tests.schema.test_live_resume import events_of, history_of, moves, run_to_completion
from tests.schema.test_subscriptions import Scene, live_settings, make_scene, now, refresh
from tests.support import TestDatabase
from tests.support_graphql import gid
from tests.support_live import RESUMABLE, wait_until, ws_client
from tests.support_live import live_server as serve

S = UpdateStatus


async def preview(scene: Scene, version: str) -> UpdateRequest:
    return await request_update(
        await actor_of(scene.lakeside_tc),
        district_id=scene.lakeside.id,
        kind=UpdateKind.VERSION_UPDATE,
        environment=EnvironmentKind.PREVIEW,
        target_version=version,
    )


def chain(events: list[dict[str, Any]]) -> list[tuple[str | None, str]]:
    return [(e["fromStatus"], e["toStatus"]) for e in events]


async def test_a_superseded_request_is_followed_to_completion_under_the_newer_one(
    db: TestDatabase, run_id: str
) -> None:
    scene = await make_scene()
    older = await preview(scene, "Campus.2435.3")
    async with (
        serve(live_settings(db, run_id)) as server,
        ws_client(server, scene.tokens["lakeside"]) as client,
    ):
        await client.subscribe("older", {"updateRequestId": gid(older)}, RESUMABLE)
        assert (await client.event("older"))["type"] == "SNAPSHOT"
        newer = await preview(scene, "Campus.2435.4")
        await schedule_update_request(scene.staff, newer.id, now(), override_maintenance_window=True)
        await run_to_completion(newer.id)
        history = (await history_of(older.id))[1:]  # its creation came before the SNAPSHOT
        assert history == [
            ("TO_BE_SCHEDULED", "NEW_VERSION_REQUESTED"),
            ("NEW_VERSION_REQUESTED", "COMPLETED"),
        ]
        events = await events_of(client, "older", len(history))
        assert chain(events) == history
        assert [e["updateRequest"]["id"] for e in events] == [gid(older)] * 2
        await client.ping_pong()
        assert client.unread() == []  # a completed request's subscription stays open
        assert server.hub.member_count == 1


async def test_cancelling_the_newer_request_returns_the_older_one_to_its_subscribers(
    db: TestDatabase, run_id: str
) -> None:
    scene = await make_scene()
    older = await preview(scene, "Campus.2435.3")
    async with (
        serve(live_settings(db, run_id)) as server,
        ws_client(server, scene.tokens["lakeside"]) as client,
    ):
        await client.subscribe("older", {"updateRequestId": gid(older)}, RESUMABLE)
        assert (await client.event("older"))["type"] == "SNAPSHOT"
        newer = await preview(scene, "Campus.2435.4")
        await client.subscribe("newer", {"updateRequestId": gid(newer)}, RESUMABLE)
        assert (await client.event("newer"))["type"] == "SNAPSHOT"
        await cancel_update_request(await actor_of(scene.lakeside_tc), newer.id)
        removed = await client.event("newer")
        assert moves([removed]) == [("REMOVED", "TO_BE_SCHEDULED", "CANCELLED", "CANCELLED")]
        assert await client.receive_for("newer") == {"id": "newer", "type": "complete"}
        history = (await history_of(older.id))[1:]
        assert history == [
            ("TO_BE_SCHEDULED", "NEW_VERSION_REQUESTED"),
            ("NEW_VERSION_REQUESTED", "TO_BE_SCHEDULED"),
        ]
        assert chain(await events_of(client, "older", 2)) == history
        await wait_until(lambda: server.hub.member_count == 1, "the cancelled one's subscription to end")


async def test_one_of_two_subscriptions_sharing_a_rendering_completes(db: TestDatabase, run_id: str) -> None:
    """Same document and variables on one socket (one render group): completing one leaves the
    other its events, each once; completing the other too leaves nothing behind in the hub."""
    scene = await make_scene()
    district = {"districtId": gid(scene.lakeside)}
    async with (
        serve(live_settings(db, run_id)) as server,
        ws_client(server, scene.tokens["lakeside"]) as client,
    ):
        for operation in ("a", "b"):
            await client.subscribe(operation, district, RESUMABLE)
        await client.ping_pong()
        assert (server.hub.member_count, len(server.hub.groups)) == (2, 1)
        first = await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
        for operation in ("a", "b"):
            assert (await client.event(operation))["updateRequest"]["id"] == gid(first)
        await client.send({"id": "a", "type": "complete"})
        await client.ping_pong()
        assert (server.hub.member_count, len(server.hub.groups)) == (1, 1)
        second = await refresh(scene, scene.lakeside, EnvironmentKind.STAGING)
        assert (await client.event("b"))["updateRequest"]["id"] == gid(second)
        await client.ping_pong()
        assert client.unread() == []
        # The id of the completed one can be used again: it gets only its own new events.
        await client.subscribe("a", district, RESUMABLE)
        await client.ping_pong()
        await client.send({"id": "b", "type": "complete"})
        await client.ping_pong()
        third = await refresh(scene, scene.riverside, EnvironmentKind.SANDBOX)  # not Lakeside's
        await cancel_update_request(await actor_of(scene.lakeside_tc), first.id)
        event = await client.event("a")
        assert moves([event]) == [("REMOVED", "TO_BE_SCHEDULED", "CANCELLED", "CANCELLED")]
        assert third.district_id != scene.lakeside.id
        await client.ping_pong()
        assert client.unread() == []
        await client.send({"id": "a", "type": "complete"})
        await client.ping_pong()
        assert (server.hub.member_count, len(server.hub.groups)) == (0, 0)
