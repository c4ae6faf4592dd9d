"""Live delivery when the database does not answer. A token check that cannot be made is no
verdict on the token: the socket is never closed as if its token were gone (4403 tells the client
to sign in again). At `connection_init` the socket closes with 1013 (clients reconnect); on an open
socket a re-check that fails changes nothing, and a subscribe at that moment fails alone, as a
query or mutation does. Events whose delivery failed are resumed from the cursor, never skipped."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

import resolvers.context
import resolvers.live.dispatch
import resolvers.live.sockets
import resolvers.loaders
from models.enums import EnvironmentKind, UpdateStatus
from models.requests.staff import set_update_request_status
from models.tokens import revoke_token
from tests.schema.test_live_resume import moves
from tests.schema.test_live_resume_edges import WITH_ROW
from tests.schema.test_subscriptions import live_settings, make_scene, refresh
from tests.support import TestDatabase, table_aside
from tests.support_graphql import gid
from tests.support_live import RESUMABLE, live_server, wait_until, ws_client
from updatedesk.ws import REASON_SIGN_IN_UNAVAILABLE

S = UpdateStatus


@contextmanager
def sign_in_fails(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every token check fails as when the accounts table cannot be read."""

    async def unreachable(token: object) -> object:
        raise ConnectionError("the database did not answer")

    with monkeypatch.context() as patch:
        patch.setattr(resolvers.context, "authenticate", unreachable)
        yield


async def test_connection_init_the_database_cannot_check_closes_with_1013_not_4403(
    db: TestDatabase, run_id: str
) -> None:
    """The tokens cannot be read when a client sends `connection_init` (a database hiccup while
    live screens reconnect). 4403 would tell every client its token is refused (the web page
    signs its user out): the server closes with 1013 "Try Again Later" instead, which clients
    retry. Once the database answers, the same token signs in and follows events; a token that
    is really refused (revoked) still gets 4403."""
    scene = await make_scene()
    token = scene.tokens["lakeside"]
    init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
    async with live_server(live_settings(db, run_id)) as server:
        async with table_aside("api_token"), ws_client(server) as client:
            await client.send(init)
            assert await client.closed() == (1013, REASON_SIGN_IN_UNAVAILABLE)
        async with ws_client(server, token) as client:  # acknowledged: the token was not revoked
            await client.subscribe("d", {"districtId": gid(scene.lakeside)}, RESUMABLE)
            await client.ping_pong()
            await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
            assert (await client.event("d"))["type"] == "CREATED"
        assert await revoke_token(token)
        async with ws_client(server) as client:
            await client.send(init)
            code, reason = await client.closed()
            assert code == 4403 and reason and "revoked" in reason, (code, reason)


async def test_rechecks_of_an_open_socket_the_database_cannot_answer_keep_it_open(
    db: TestDatabase, run_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the tokens unreadable for real, neither the re-check at each event nor the watch of
    idle sockets (which asks every sweep which tokens ended) closes an open socket: events still
    come, a subscribe at that moment is refused for now (UNAVAILABLE). Once the database answers,
    a revocation closes it with 4403 as before."""
    sweeps_failed = 0
    ended_tokens = resolvers.live.sockets.ended_tokens

    async def watched_sweep(token_ids: set[int]) -> dict[int, str]:
        nonlocal sweeps_failed
        try:
            return await ended_tokens(token_ids)
        except Exception:
            sweeps_failed += 1
            raise

    monkeypatch.setattr(resolvers.live.sockets, "ended_tokens", watched_sweep)
    scene = await make_scene()
    district = {"districtId": gid(scene.lakeside)}
    token = scene.tokens["lakeside"]
    async with (
        live_server(live_settings(db, run_id)) as server,
        ws_client(server, token) as client,
    ):
        await client.subscribe("d", district, RESUMABLE)
        await client.ping_pong()
        request = await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
        assert (await client.event("d"))["type"] == "CREATED"
        async with table_aside("api_token"):
            await set_update_request_status(scene.staff, request.id, S.DEFERRED, "Later.")
            deferred = await client.event("d")  # re-checked at this event: no verdict
            await client.subscribe("late", district, RESUMABLE)
            refused = await client.receive_for("late")
            assert refused["type"] == "error", refused
            assert refused["payload"][0]["extensions"]["code"] == "UNAVAILABLE"
            await wait_until(lambda: sweeps_failed >= 2, "two sweeps of the idle-socket watch to fail")
            await client.ping_pong()  # still open
        await set_update_request_status(scene.staff, request.id, S.TO_BE_SCHEDULED, "Now.")
        assert moves([deferred, await client.event("d")]) == [
            ("STATUS_CHANGED", "TO_BE_SCHEDULED", "DEFERRED", "DEFERRED"),
            ("STATUS_CHANGED", "DEFERRED", "TO_BE_SCHEDULED", "TO_BE_SCHEDULED"),
        ]
        assert await revoke_token(token)
        code, reason = await client.closed()
        assert code == 4403 and reason and "revoked" in reason, (code, reason)


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


@contextmanager
def districts_fail(monkeypatch: pytest.MonkeyPatch, fault: Exception) -> Iterator[list[object]]:
    """Every read of districts through the loaders (what a rendering of `district { name }`
    does) raises `fault`; the keys asked for are listed."""
    asked: list[object] = []

    async def failing(self: object, keys: list[int]) -> object:
        asked.append(list(keys))
        raise fault

    with monkeypatch.context() as patch:
        patch.setattr(resolvers.loaders.Loaders, "_districts", failing)
        yield asked


async def test_an_event_the_database_could_not_render_is_resumed_not_skipped(
    db: TestDatabase, run_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database does not answer while graphql-core renders an event (a loader's read): the
    event is not replaced by an error while the subscription goes on past it, a gap in every
    screen's history. The socket closes with 1013 and the client resumes from its last cursor."""
    scene = await make_scene()
    district = {"districtId": gid(scene.lakeside)}
    async with live_server(live_settings(db, run_id)) as server:
        async with ws_client(server, scene.tokens["lakeside"]) as client:
            await client.subscribe("d", district, WITH_ROW)
            await client.ping_pong()
            request = await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
            created = await client.event("d")
            with districts_fail(monkeypatch, ConnectionError("the database did not answer")) as asked:
                await set_update_request_status(scene.staff, request.id, S.DEFERRED, "Later.")
                code, _ = await client.closed()
            assert code == 1013
            assert asked  # the rendering did read, and failed
            assert [m for m in client.unread() if m.get("type") == "next"] == []
        async with ws_client(server, scene.tokens["lakeside"]) as client:
            await client.subscribe("d", {**district, "after": created["cursor"]}, WITH_ROW)
            event = await client.event("d")
            assert moves([event]) == [("STATUS_CHANGED", "TO_BE_SCHEDULED", "DEFERRED", "DEFERRED")]
            assert event["updateRequest"]["district"] == {"name": scene.lakeside.name}


async def test_a_fault_of_the_code_in_a_rendering_is_masked_and_the_subscription_goes_on(
    db: TestDatabase, run_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fault that trying again would not mend (a bug, not the database) is not turned into
    endless reconnects: the subscriber gets that event's masked error and the next events."""
    scene = await make_scene()
    async with (
        live_server(live_settings(db, run_id)) as server,
        ws_client(server, scene.tokens["lakeside"]) as client,
    ):
        await client.subscribe("d", {"districtId": gid(scene.lakeside)}, WITH_ROW)
        await client.ping_pong()
        with districts_fail(monkeypatch, RuntimeError("a bug")):
            request = await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
            message = await client.receive_for("d")
        assert message["type"] == "next", message
        [error] = message["payload"]["errors"]
        assert error["message"] == "Unexpected error."
        await set_update_request_status(scene.staff, request.id, S.DEFERRED, "Later.")
        event = await client.event("d")
        assert moves([event]) == [("STATUS_CHANGED", "TO_BE_SCHEDULED", "DEFERRED", "DEFERRED")]
