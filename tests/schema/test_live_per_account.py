"""Per-account renderings stay the account's own as it changes: a saved preference that a
per-account field applies (Hide Complete) reaches the subscription's next event after the
re-check, as it reaches the account's queries."""

from __future__ import annotations

from models.enums import EnvironmentKind, UpdateKind, UpdateStatus
from models.preferences import set_hide_completed
from tests.factories import make_request
from tests.schema.test_live_groups import PER_ACCOUNT
from tests.schema.test_subscriptions import live_settings, make_scene, preview_update, refresh
from tests.support import TestDatabase
from tests.support_live import live_server, ws_client


async def test_a_saved_preference_reaches_an_open_per_account_subscription(
    db: TestDatabase, run_id: str
) -> None:
    scene = await make_scene()
    await make_request(scene.lakeside, kind=UpdateKind.DATABASE_REFRESH,
                       environment=EnvironmentKind.STAGING, status=UpdateStatus.COMPLETED)  # fmt: skip
    async with (
        live_server(live_settings(db, run_id)) as server,
        ws_client(server, scene.tokens["lakeside"]) as client,
    ):
        await client.subscribe("mine", {}, PER_ACCOUNT)
        await client.ping_pong()
        await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
        event = await client.event("mine")
        assert event["updateRequest"]["district"]["updateRequests"]["totalCount"] == 2
        # The account now hides completed requests (saved from another session, say over HTTP).
        await set_hide_completed(scene.lakeside_tc.id, True)
        await preview_update(scene, scene.lakeside)
        event = await client.event("mine")
        assert event["updateRequest"]["district"]["updateRequests"]["totalCount"] == 2  # the two open
