"""Who sees which live events as access changes: a district link removed and given back while a
subscription stays open, a resume after a link was removed, a viewer's subscriptions, and an
operation id used again after the client completed it. Real uvicorn, real WebSocket clients."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import resolvers.live.catchup
from infra.bus import public_cursor
from models.enums import EnvironmentKind, Role, UpdateStatus
from models.requests.staff import set_update_request_status
from models.tables import UpdateRequest
from tests.factories import make_account, make_token
from tests.schema.test_live_resume import events_of
from tests.schema.test_subscriptions import listening, live_settings, make_scene, preview_update, refresh
from tests.support import TestDatabase
from tests.support_graphql import gid
from tests.support_live import (
    EVENTS,
    RESUMABLE,
    LiveServer,
    WsClient,
    held,
    live_server,
    wait_until,
    ws_client,
)

S = UpdateStatus


async def until(client: WsClient, operation: str, sentinel: UpdateRequest) -> list[dict[str, Any]]:
    """The operation's events up to and including the first one of `sentinel`."""
    events: list[dict[str, Any]] = []
    while not events or events[-1]["updateRequest"]["id"] != gid(sentinel):
        events.append(await client.event(operation))
    return events


async def narrowed(server: LiveServer, district_id: int) -> None:
    """Wait until no subscription's group sees `district_id` any more (its link was removed)."""
    hub = server.hub
    await wait_until(
        lambda: not any(group.visibility.can_see(district_id) for group in hub.groups.values()),
        "the subscription to move to its narrower group",
    )


async def caught_up(server: LiveServer) -> None:
    """Wait until no subscription is catching up."""
    hub = server.hub
    await wait_until(
        lambda: not any(member.catching_up for group in hub.groups.values() for member in group),
        "the catch-up to end",
    )


async def test_events_while_a_link_was_removed_never_arrive_after_it_is_given_back(
    db: TestDatabase, run_id: str
) -> None:
    scene = await make_scene()
    contact = await make_account(Role.STATE_CONTACT, [scene.lakeside, scene.riverside], email="s@example.gov")
    async with (
        live_server(live_settings(db, run_id)) as server,
        ws_client(server, await make_token(contact)) as client,
    ):
        await client.subscribe("all", {}, EVENTS)
        await listening(server, 1)
        before = await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
        assert [e["updateRequest"]["id"] for e in await until(client, "all", before)] == [gid(before)]

        await contact.districts.remove(scene.lakeside)
        await set_update_request_status(scene.staff, before.id, S.PENDING_INPUT, "unseen")
        hidden = await refresh(scene, scene.lakeside, EnvironmentKind.STAGING)
        riverside = await refresh(scene, scene.riverside, EnvironmentKind.SANDBOX)
        assert [e["updateRequest"]["id"] for e in await until(client, "all", riverside)] == [gid(riverside)]

        await contact.districts.add(scene.lakeside)
        await set_update_request_status(scene.staff, before.id, S.DEFERRED, "seen again")
        events = await until(client, "all", before)
        assert [(e["type"], e["updateRequest"]["status"]) for e in events] == [("STATUS_CHANGED", "DEFERRED")]
        await client.ping_pong()
        assert client.unread() == []
        assert gid(hidden) not in {e["updateRequest"]["id"] for e in events}


async def test_a_resume_after_a_link_was_removed_skips_that_districts_missed_events(
    db: TestDatabase, run_id: str
) -> None:
    """The catch-up shows the missed events the caller may see now, not those it could see when
    the cursor was handed out."""
    scene = await make_scene()
    contact = await make_account(Role.STATE_CONTACT, [scene.lakeside, scene.riverside], email="s@example.gov")
    token = await make_token(contact)
    async with live_server(live_settings(db, run_id)) as server:
        async with ws_client(server, token) as client:
            await client.subscribe("all", {}, RESUMABLE)
            await listening(server, 1)
            first = await refresh(scene, scene.riverside, EnvironmentKind.SANDBOX)
            cursor = (await client.event("all"))["cursor"]
        lakeside = await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
        riverside = await refresh(scene, scene.riverside, EnvironmentKind.STAGING)
        await set_update_request_status(scene.staff, lakeside.id, S.DEFERRED, "later")
        await contact.districts.remove(scene.lakeside)
        async with ws_client(server, token) as client:
            await client.subscribe("all", {"after": cursor}, RESUMABLE)
            missed = await events_of(client, "all", 1)
            assert [(e["type"], e["updateRequest"]["id"]) for e in missed] == [("CREATED", gid(riverside))]
            await client.ping_pong()
            assert client.unread() == []
            await client.subscribe("d", {"districtId": gid(scene.lakeside), "after": cursor}, RESUMABLE)
            message = await client.receive_for("d")
            assert message["type"] == "error" and message["payload"][0]["extensions"]["code"] == "NOT_FOUND"
        assert first.district_id == scene.riverside.id


async def test_a_viewer_follows_its_own_districts_only(db: TestDatabase, run_id: str) -> None:
    scene = await make_scene()
    viewer = await make_account(Role.VIEWER, [scene.lakeside], email="viewer@lakeside.example")
    foreign = await refresh(scene, scene.riverside, EnvironmentKind.SANDBOX)
    async with (
        live_server(live_settings(db, run_id)) as server,
        ws_client(server, await make_token(viewer)) as client,
    ):
        await client.subscribe("foreign", {"updateRequestId": gid(foreign)}, EVENTS)
        message = await client.receive_for("foreign")
        assert message["type"] == "error" and message["payload"][0]["extensions"]["code"] == "NOT_FOUND"
        await client.subscribe("all", {}, EVENTS)
        await client.subscribe("d", {"districtId": gid(scene.lakeside)}, EVENTS)
        await listening(server, 2)
        await set_update_request_status(scene.staff, foreign.id, S.DEFERRED, "not for the viewer")
        await refresh(scene, scene.riverside, EnvironmentKind.STAGING)
        mine = await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
        for operation in ("all", "d"):
            events = await until(client, operation, mine)
            assert [(e["type"], e["updateRequest"]["district"]["id"]) for e in events] == [
                ("CREATED", gid(scene.lakeside))
            ]
        await client.subscribe("one", {"updateRequestId": gid(mine)}, EVENTS)
        assert (await client.event("one"))["type"] == "SNAPSHOT"


async def test_an_operation_id_used_again_after_complete_gets_only_its_new_events(
    db: TestDatabase, run_id: str
) -> None:
    scene = await make_scene()
    async with (
        live_server(live_settings(db, run_id)) as server,
        ws_client(server, scene.tokens["staff"]) as client,
    ):
        await client.subscribe("x", {"districtId": gid(scene.lakeside)}, EVENTS)
        await listening(server, 1)
        await client.send({"id": "x", "type": "complete"})
        await listening(server, 0)
        await client.subscribe("x", {"districtId": gid(scene.riverside)}, EVENTS)
        await listening(server, 1)
        await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
        riverside = await refresh(scene, scene.riverside, EnvironmentKind.SANDBOX)
        events = await until(client, "x", riverside)
        assert [e["updateRequest"]["district"]["id"] for e in events] == [gid(scene.riverside)]
        await client.ping_pong()
        assert client.unread() == []
        # A second subscribe with the id in use is still refused.
        await client.subscribe("x", {"districtId": gid(scene.lakeside)}, EVENTS)
        assert (await client.closed())[0] == 4409


async def test_a_link_removed_while_a_resume_catches_up_stops_that_districts_events(
    db: TestDatabase, run_id: str
) -> None:
    """Access is re-checked while a long catch-up runs, not only when it starts: missed events of
    a district whose link was removed meanwhile are not sent."""
    scene = await make_scene()
    contact = await make_account(Role.STATE_CONTACT, [scene.lakeside, scene.riverside], email="s@example.gov")
    token = await make_token(contact)
    async with live_server(live_settings(db, run_id)) as server:
        async with ws_client(server, token) as client:
            await client.subscribe("all", {}, RESUMABLE)
            await listening(server, 1)
            await refresh(scene, scene.riverside, EnvironmentKind.SANDBOX)
            cursor = (await client.event("all"))["cursor"]
        await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
        riverside = await refresh(scene, scene.riverside, EnvironmentKind.STAGING)

        with held(server.bus.stream, "read_after") as hold:
            async with ws_client(server, token) as client:
                await client.subscribe("all", {"after": cursor}, RESUMABLE)
                await client.subscribe("d", {"districtId": gid(scene.lakeside), "after": cursor}, RESUMABLE)
                await wait_until(lambda: hold.calls == 2, "both catch-ups to read the stream")
                await contact.districts.remove(scene.lakeside)
                hold.gate.set()
                missed = await events_of(client, "all", 1)
                assert [(e["type"], e["updateRequest"]["id"]) for e in missed] == [
                    ("CREATED", gid(riverside))
                ]
                # The subscription narrowed to that district ends as one to a foreign district does.
                message = await client.receive_for("d")
                assert message["type"] == "next", message
                assert message["payload"]["errors"][0]["extensions"]["code"] == "NOT_FOUND"
                assert await client.receive_for("d") == {"id": "d", "type": "complete"}
                await client.ping_pong()
                assert client.unread() == []


async def test_a_link_removed_before_a_resumes_snapshots_go_out_sends_none_of_them(
    db: TestDatabase, run_id: str
) -> None:
    """A resume from a cursor the stream no longer has starts with SNAPSHOTs; when a live event
    finds the district's link removed before they went out, they never do: NOT_FOUND ends it."""
    scene = await make_scene()
    contact = await make_account(Role.STATE_CONTACT, [scene.lakeside, scene.riverside], email="s@example.gov")
    request = await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
    async with (
        live_server(live_settings(db, run_id)) as server,
        ws_client(server, await make_token(contact)) as client,
    ):
        with held(server.bus.stream, "last_id") as hold:
            forgotten = public_cursor(f"{int(time.time() * 1000) - 3_600_000}-0")  # an hour ago
            await client.subscribe("d", {"districtId": gid(scene.lakeside), "after": forgotten}, RESUMABLE)
            await asyncio.wait_for(hold.waiting.wait(), 10)
            await contact.districts.remove(scene.lakeside)
            await set_update_request_status(scene.staff, request.id, S.DEFERRED, "not for them")
            await wait_until(lambda: server.hub.member_count == 0, "the subscription to end")
            hold.gate.set()
            message = await client.receive_for("d")
        assert message["type"] == "next", message
        assert message["payload"]["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        assert await client.receive_for("d") == {"id": "d", "type": "complete"}
        await client.ping_pong()
        assert client.unread() == []


async def test_live_events_held_behind_a_catch_up_are_not_sent_once_their_link_is_removed(
    db: TestDatabase, run_id: str
) -> None:
    """A live event that comes while a resume still catches up waits behind it. When the district's
    link is removed before the catch-up ends, that event is not sent either: the missed events of
    that district are left out (test above), and so are its live ones held meanwhile."""
    scene = await make_scene()
    contact = await make_account(Role.STATE_CONTACT, [scene.lakeside, scene.riverside], email="s@example.gov")
    token = await make_token(contact)
    async with live_server(live_settings(db, run_id)) as server:
        async with ws_client(server, token) as client:
            await client.subscribe("all", {}, RESUMABLE)
            await listening(server, 1)
            await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
            cursor = (await client.event("all"))["cursor"]
        missed = await refresh(scene, scene.lakeside, EnvironmentKind.STAGING)

        with held(server.bus.stream, "read_after") as hold:
            async with ws_client(server, token) as client:
                await client.subscribe("all", {"after": cursor}, RESUMABLE)
                await wait_until(lambda: hold.calls == 1, "the catch-up to read the stream")
                riverside = await refresh(scene, scene.riverside, EnvironmentKind.SANDBOX)
                hub = server.hub
                await wait_until(
                    lambda: any(member.buffer for group in hub.groups.values() for member in group),
                    "the live event to wait behind the catch-up",
                )
                await contact.districts.remove(scene.riverside)
                hold.gate.set()
                sentinel = await preview_update(scene, scene.lakeside)
                shown = [(e["type"], e["updateRequest"]["id"]) for e in await until(client, "all", sentinel)]
                assert gid(riverside) not in {request for _, request in shown}, shown
                assert shown == [("CREATED", gid(missed)), ("CREATED", gid(sentinel))]
                await client.ping_pong()
                assert client.unread() == []


async def test_a_link_removed_before_a_resumes_snapshots_go_out_leaves_that_districts_out(
    db: TestDatabase, run_id: str
) -> None:
    """As above, for a subscription to every district: it goes on, with SNAPSHOTs of the districts
    it still sees only."""
    scene = await make_scene()
    contact = await make_account(Role.STATE_CONTACT, [scene.lakeside, scene.riverside], email="s@example.gov")
    lakeside = await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
    riverside = await refresh(scene, scene.riverside, EnvironmentKind.SANDBOX)
    async with (
        live_server(live_settings(db, run_id)) as server,
        ws_client(server, await make_token(contact)) as client,
    ):
        with held(server.bus.stream, "last_id") as hold:
            forgotten = public_cursor(f"{int(time.time() * 1000) - 3_600_000}-0")  # an hour ago
            await client.subscribe("all", {"after": forgotten}, RESUMABLE)
            await asyncio.wait_for(hold.waiting.wait(), 10)
            await contact.districts.remove(scene.riverside)
            await set_update_request_status(scene.staff, riverside.id, S.DEFERRED, "not for them")
            await narrowed(server, scene.riverside.id)
            hold.gate.set()
            await caught_up(server)
            sentinel = await preview_update(scene, scene.lakeside)
            shown = [(e["type"], e["updateRequest"]["id"]) for e in await until(client, "all", sentinel)]
        assert gid(riverside) not in {request for _, request in shown}, shown
        assert shown == [("SNAPSHOT", gid(lakeside)), ("CREATED", gid(sentinel))]
        await client.ping_pong()
        assert client.unread() == []


async def test_a_link_removed_while_a_catch_up_batch_is_read_leaves_that_batchs_events_out(
    db: TestDatabase, run_id: str
) -> None:
    """The catch-up re-checks access before each batch of missed records; a link removed after
    that re-check, while the batch is read and rendered, still keeps the batch's events of that
    district from going out."""
    scene = await make_scene()
    contact = await make_account(Role.STATE_CONTACT, [scene.lakeside, scene.riverside], email="s@example.gov")
    token = await make_token(contact)
    async with live_server(live_settings(db, run_id)) as server:
        async with ws_client(server, token) as client:
            await client.subscribe("all", {}, RESUMABLE)
            await listening(server, 1)
            await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
            cursor = (await client.event("all"))["cursor"]
        riverside = await refresh(scene, scene.riverside, EnvironmentKind.SANDBOX)
        missed = await refresh(scene, scene.lakeside, EnvironmentKind.STAGING)

        with held(resolvers.live.catchup, "rows_of") as hold:
            async with ws_client(server, token) as client:
                await client.subscribe("all", {"after": cursor}, RESUMABLE)
                await asyncio.wait_for(hold.waiting.wait(), 10)
                await contact.districts.remove(scene.riverside)
                await set_update_request_status(scene.staff, riverside.id, S.DEFERRED, "not for them")
                await narrowed(server, scene.riverside.id)
                hold.gate.set()
                await caught_up(server)
                sentinel = await preview_update(scene, scene.lakeside)
                shown = [(e["type"], e["updateRequest"]["id"]) for e in await until(client, "all", sentinel)]
                assert shown == [("CREATED", gid(missed)), ("CREATED", gid(sentinel))]
                await client.ping_pong()
                assert client.unread() == []
