"""Render once per group, visibility per subscriber: subscribers with the same document share one
rendering only when they see the same (role, districts); a district contact and hosting staff
with the same document are in different groups and see different events; a contact whose access
changes leaves the shared group at the next event."""

from __future__ import annotations

from models.enums import EnvironmentKind, Role
from tests.factories import make_account, make_token
from tests.schema.test_subscriptions import live_settings, make_scene, refresh
from tests.support import TestDatabase
from tests.support_graphql import gid
from tests.support_live import live_server, wait_until, ws_client

SHARED = """subscription { updateRequestEvents {
  type cursor toStatus updateRequest { id status district { id name } } } }"""
#: `District.updateRequests` applies the caller's saved "Hide Complete": rendered per account.
PER_ACCOUNT = """subscription { updateRequestEvents {
  type updateRequest { id district { updateRequests { totalCount } } } } }"""


async def test_one_rendering_per_group_and_visibility_per_subscriber(db: TestDatabase, run_id: str) -> None:
    scene = await make_scene()
    colleague = await make_account(Role.TECHNICAL_CONTACT, [scene.lakeside], email="it@lakeside.example")
    async with (
        live_server(live_settings(db, run_id)) as server,
        ws_client(server, scene.tokens["lakeside"]) as first,
        ws_client(server, await make_token(colleague)) as second,
        ws_client(server, scene.tokens["staff"]) as staff,
    ):
        hub = server.hub
        for client in (first, second, staff):
            await client.subscribe("all", {}, SHARED)
            await client.ping_pong()
        await wait_until(lambda: hub.member_count == 3, "three subscriptions")
        assert len(hub.groups) == 2  # the two Lakeside contacts share one; staff has its own

        renders = hub.renders
        lakeside = await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
        seen = [await client.event("all") for client in (first, second, staff)]
        assert {e["updateRequest"]["id"] for e in seen} == {gid(lakeside)}
        assert seen[0] == seen[1] == seen[2]  # the same answer, rendered twice (two groups)
        assert hub.renders - renders == 2

        renders = hub.renders
        riverside = await refresh(scene, scene.riverside, EnvironmentKind.SANDBOX)
        assert (await staff.event("all"))["updateRequest"]["id"] == gid(riverside)
        assert hub.renders - renders == 1  # no group of a Lakeside contact sees Riverside
        for client in (first, second):
            await client.ping_pong()
            assert client.unread() == []

        # The colleague loses Lakeside: at the next event it leaves the shared group.
        await colleague.districts.remove(scene.lakeside)
        staging = await refresh(scene, scene.lakeside, EnvironmentKind.STAGING)
        for client in (first, staff):
            assert (await client.event("all"))["updateRequest"]["id"] == gid(staging)
        await second.ping_pong()
        assert second.unread() == []
        assert len(hub.groups) == 3


async def test_documents_reading_per_account_fields_are_rendered_per_account(
    db: TestDatabase, run_id: str
) -> None:
    scene = await make_scene()
    colleague = await make_account(Role.TECHNICAL_CONTACT, [scene.lakeside], email="it@lakeside.example")
    async with (
        live_server(live_settings(db, run_id)) as server,
        ws_client(server, scene.tokens["lakeside"]) as first,
        ws_client(server, await make_token(colleague)) as second,
    ):
        for client in (first, second):
            await client.subscribe("mine", {}, PER_ACCOUNT)
            await client.ping_pong()
        await wait_until(lambda: server.hub.member_count == 2, "two subscriptions")
        assert len(server.hub.groups) == 2
        await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
        for client in (first, second):
            event = await client.event("mine")
            assert event["updateRequest"]["district"]["updateRequests"]["totalCount"] == 1
