"""Live delivery when the database does not answer. A re-check of a subscriber's access that
cannot be made is no verdict on the token: the socket is not closed as if its token were gone
(4403 tells the client to sign in again), and a subscribe at that moment fails alone, as a query
or mutation does. Events whose delivery failed are resumed from the cursor, never skipped."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

import resolvers.context
import resolvers.live.dispatch
from models.enums import EnvironmentKind, UpdateStatus
from models.requests.staff import set_update_request_status
from tests.schema.test_live_resume import moves
from tests.schema.test_live_resume_edges import WITH_ROW
from tests.schema.test_subscriptions import live_settings, make_scene, refresh
from tests.support import TestDatabase
from tests.support_graphql import gid
from tests.support_live import RESUMABLE, live_server, ws_client

S = UpdateStatus


@contextmanager
def sign_in_fails(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every token check fails as when the accounts table cannot be read."""

    async def unreachable(token: object) -> object:
        raise ConnectionError("the database did not answer")

    with monkeypatch.context() as patch:
        patch.setattr(resolvers.context, "authenticate", unreachable)
        yield


async def test_a_recheck_that_cannot_be_made_does_not_close_the_socket_as_forbidden(
    db: TestDatabase, run_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    scene = await make_scene()
    district = {"districtId": gid(scene.lakeside)}
    async with (
        live_server(live_settings(db, run_id)) as server,
        ws_client(server, scene.tokens["lakeside"]) as client,
    ):
        await client.subscribe("d", district, RESUMABLE)
        await client.ping_pong()
        request = await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
        assert (await client.event("d"))["type"] == "CREATED"
        with sign_in_fails(monkeypatch):
            # Re-checked at this event (every event in these tests): the check fails.
            await set_update_request_status(scene.staff, request.id, S.DEFERRED, "Later.")
            deferred = await client.event("d")
            # A new subscription cannot be checked now: it fails, the socket stays.
            await client.subscribe("late", district, RESUMABLE)
            refused = await client.receive_for("late")
            assert refused["type"] == "error", refused
            assert refused["payload"][0]["extensions"]["code"] == "UNAVAILABLE"
        await set_update_request_status(scene.staff, request.id, S.TO_BE_SCHEDULED, "Now.")
        assert moves([deferred, await client.event("d")]) == [
            ("STATUS_CHANGED", "TO_BE_SCHEDULED", "DEFERRED", "DEFERRED"),
            ("STATUS_CHANGED", "DEFERRED", "TO_BE_SCHEDULED", "TO_BE_SCHEDULED"),
        ]
        await client.ping_pong()
        assert client.unread() == []


async def test_events_that_could_not_be_delivered_are_resumed_not_skipped(
    db: TestDatabase, run_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows a batch needs cannot be read (the database did not answer): its subscribers are
    not left to go on after a silent gap. Their sockets close with 1013, as a slow socket's, and
    resuming from the last cursor brings exactly the events they missed."""
    scene = await make_scene()
    district = {"districtId": gid(scene.lakeside)}
    async with live_server(live_settings(db, run_id)) as server:
        async with ws_client(server, scene.tokens["lakeside"]) as client:
            await client.subscribe("d", district, WITH_ROW)
            await client.ping_pong()
            request = await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
            created = await client.event("d")
            rows_of = resolvers.live.dispatch.rows_of

            asked: list[object] = []

            async def unreadable(request_ids: object) -> object:
                asked.append(list(request_ids))  # type: ignore[call-overload]
                raise ConnectionError("the database did not answer")

            monkeypatch.setattr(resolvers.live.dispatch, "rows_of", unreadable)
            await set_update_request_status(scene.staff, request.id, S.DEFERRED, "Later.")
            code, _ = await client.closed()
            assert code == 1013
            assert asked == [[request.id]]  # the batch did need the row (the document reads `kind`)
            assert [m for m in client.unread() if m.get("type") == "next"] == []
            monkeypatch.setattr(resolvers.live.dispatch, "rows_of", rows_of)
        async with ws_client(server, scene.tokens["lakeside"]) as client:
            await client.subscribe("d", {**district, "after": created["cursor"]}, WITH_ROW)
            assert moves([await client.event("d")]) == [
                ("STATUS_CHANGED", "TO_BE_SCHEDULED", "DEFERRED", "DEFERRED")
            ]
            await set_update_request_status(scene.staff, request.id, S.TO_BE_SCHEDULED, "Now.")
            assert moves([await client.event("d")]) == [
                ("STATUS_CHANGED", "DEFERRED", "TO_BE_SCHEDULED", "TO_BE_SCHEDULED")
            ]
