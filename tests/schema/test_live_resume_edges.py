"""Resuming `updateRequestEvents` at the edges: a cursor from another scope, the cursor of the
last event itself, a cursor newer than anything the stream has, a delete seen on resume, and
moves written while a resume catches up. Real uvicorn, real WebSocket clients, Redis Streams."""

from __future__ import annotations

import asyncio
from typing import Any

from infra.bus import public_cursor
from infra.bus.records import id_key
from models.enums import EnvironmentKind, UpdateKind, UpdateStatus
from models.requests.staff import schedule_update_request, set_update_request_status
from models.requests.withdrawing import cancel_update_request, delete_update_request
from tests.factories import actor_of, make_request
from tests.schema.test_live_resume import events_of, history_of, moves
from tests.schema.test_subscriptions import live_settings, make_scene, now, preview_update, refresh
from tests.support import TestDatabase
from tests.support_graphql import gid
from tests.support_live import RESUMABLE, held, wait_until, ws_client
from tests.support_live import live_server as serve

S = UpdateStatus

#: A resumable document that also reads a field only the request row has (its kind; the
#: district comes from the record's district id, so its name needs no request row).
WITH_ROW = """
subscription WithRow($districtId: ID, $updateRequestId: ID, $after: String) {
  updateRequestEvents(districtId: $districtId, updateRequestId: $updateRequestId, after: $after) {
    type cursor fromStatus toStatus updateRequest { id status kind district { name } }
  }
}
"""


async def test_a_cursor_from_one_scope_resumes_another(db: TestDatabase, run_id: str) -> None:
    """Cursors are stream positions: the one of a single-request event resumes the district list
    (and that of another request's event resumes a single request), nothing missed or repeated."""
    scene = await make_scene()
    token = scene.tokens["lakeside"]
    district = gid(scene.lakeside)
    async with serve(live_settings(db, run_id)) as server:
        first = await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
        async with ws_client(server, token) as client:
            await client.subscribe("one", {"updateRequestId": gid(first)}, RESUMABLE)
            assert (await client.event("one"))["type"] == "SNAPSHOT"
            await set_update_request_status(scene.staff, first.id, S.PENDING_INPUT, "Which backup?")
            pending = await client.event("one")
            assert moves([pending]) == [
                ("STATUS_CHANGED", "TO_BE_SCHEDULED", "PENDING_INPUT", "PENDING_INPUT")
            ]
        # Away: another request is made, the first moves on.
        second = await refresh(scene, scene.lakeside, EnvironmentKind.STAGING)
        await set_update_request_status(scene.staff, first.id, S.TO_BE_SCHEDULED, "Thanks.")
        async with ws_client(server, token) as client:
            await client.subscribe("d", {"districtId": district, "after": pending["cursor"]}, RESUMABLE)
            missed = await events_of(client, "d", 2)
            assert [(e["type"], e["updateRequest"]["id"]) for e in missed] == [
                ("CREATED", gid(second)),
                ("STATUS_CHANGED", gid(first)),
            ]
            await client.ping_pong()
            assert client.unread() == []
            # The district list's cursor of `second` resumes the single request `first`: only its
            # move after that position.
            await client.subscribe(
                "one", {"updateRequestId": gid(first), "after": missed[0]["cursor"]}, RESUMABLE
            )
            only = await client.event("one")
            assert moves([only]) == [
                ("STATUS_CHANGED", "PENDING_INPUT", "TO_BE_SCHEDULED", "TO_BE_SCHEDULED")
            ]
            assert only["cursor"] == missed[1]["cursor"]
            await client.ping_pong()
            assert [m for m in client.unread() if m.get("id") == "one"] == []


async def test_resuming_after_the_last_event_repeats_nothing(db: TestDatabase, run_id: str) -> None:
    scene = await make_scene()
    token = scene.tokens["lakeside"]
    variables: dict[str, Any] = {"districtId": gid(scene.lakeside)}
    async with serve(live_settings(db, run_id)) as server:
        async with ws_client(server, token) as client:
            await client.subscribe("d", variables, RESUMABLE)
            await client.ping_pong()
            request = await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
            await set_update_request_status(scene.staff, request.id, S.DEFERRED, "Later.")
            last = (await events_of(client, "d", 2))[-1]
        async with ws_client(server, token) as client:
            await client.subscribe("d", {**variables, "after": last["cursor"]}, RESUMABLE)
            await client.subscribe(
                "one", {"updateRequestId": gid(request), "after": last["cursor"]}, RESUMABLE
            )
            await client.ping_pong()
            assert client.unread() == []  # nothing was missed: nothing comes
            await set_update_request_status(scene.staff, request.id, S.TO_BE_SCHEDULED, "Now.")
            for operation in ("d", "one"):
                event = await client.event(operation)
                assert moves([event]) == [
                    ("STATUS_CHANGED", "DEFERRED", "TO_BE_SCHEDULED", "TO_BE_SCHEDULED")
                ]
                assert id_key(_record(event["cursor"])) > id_key(_record(last["cursor"]))


def _record(cursor: str) -> str:
    from infra.bus import record_id_of

    record_id = record_id_of(cursor)
    assert record_id is not None
    return record_id


async def test_a_cursor_newer_than_the_stream_starts_with_snapshots_then_live(
    db: TestDatabase, run_id: str
) -> None:
    """A cursor of a stream since lost whose ids ran ahead of this one (another deployment, a
    clock that was ahead): the stream never had its record, so the client gets the present and
    then every live event, not silence until the clock passes the cursor. The district's present
    too: the stream is empty and the cursor's time is ahead of this clock, so nothing bounds what
    it missed (see tests/resolvers/live/test_resync.py)."""
    scene = await make_scene()
    token = scene.tokens["lakeside"]
    request = await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
    async with serve(live_settings(db, run_id)) as server, ws_client(server, token) as client:
        ahead = public_cursor(f"{int(now().timestamp() * 1000) + 3_600_000}-0")  # an hour from now
        await client.subscribe("one", {"updateRequestId": gid(request), "after": ahead}, RESUMABLE)
        await client.subscribe("d", {"districtId": gid(scene.lakeside), "after": ahead}, RESUMABLE)
        for operation in ("one", "d"):
            snapshot = await client.event(operation)
            assert (snapshot["type"], snapshot["updateRequest"]["status"]) == ("SNAPSHOT", "TO_BE_SCHEDULED")
        await client.ping_pong()
        assert client.unread() == []
        await schedule_update_request(scene.staff, request.id, now(), override_maintenance_window=True)
        for operation in ("one", "d"):
            event = await client.event(operation)
            assert moves([event]) == [("STATUS_CHANGED", "TO_BE_SCHEDULED", "SCHEDULED", "SCHEDULED")]


async def test_a_delete_while_away_is_seen_as_removed_on_resume(db: TestDatabase, run_id: str) -> None:
    """Resuming the district list after a request was deleted gives its REMOVED, also with a
    selection that needs the (deleted) row."""
    scene = await make_scene()
    token = scene.tokens["lakeside"]
    variables: dict[str, Any] = {"districtId": gid(scene.lakeside)}
    done = await make_request(scene.lakeside, kind=UpdateKind.DATABASE_REFRESH,
                              environment=EnvironmentKind.STAGING, status=S.COMPLETED)  # fmt: skip
    async with serve(live_settings(db, run_id)) as server:
        async with ws_client(server, token) as client:
            await client.subscribe("d", variables, WITH_ROW)
            await client.ping_pong()
            request = await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
            created = await client.event("d")
        await delete_update_request(await actor_of(scene.lakeside_tc), done.id)
        sentinel = await preview_update(scene, scene.lakeside)
        async with ws_client(server, token) as client:
            for document, operation in ((WITH_ROW, "row"), (RESUMABLE, "record")):
                await client.subscribe(operation, {**variables, "after": created["cursor"]}, document)
                missed = await events_of(client, operation, 2)
                assert [(e["type"], e["updateRequest"]["id"]) for e in missed] == [
                    ("REMOVED", gid(done)),
                    ("CREATED", gid(sentinel)),
                ]
                assert missed[0]["updateRequest"]["status"] == "COMPLETED"
            assert created["updateRequest"]["id"] == gid(request)
            # The deleted request itself is no longer there to subscribe to.
            await client.subscribe(
                "one", {"updateRequestId": gid(done), "after": created["cursor"]}, RESUMABLE
            )
            message = await client.receive_for("one")
            assert message["type"] == "error", message
            assert message["payload"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_moves_written_during_a_resume_arrive_once_in_history_order(
    db: TestDatabase, run_id: str
) -> None:
    """While resuming subscriptions catch up from an old cursor, the request keeps moving: each
    sees the whole chain once, in the order of the history."""
    scene = await make_scene()
    token = scene.tokens["lakeside"]
    async with serve(live_settings(db, run_id)) as server:
        async with ws_client(server, token) as client:
            await client.subscribe("d", {"districtId": gid(scene.lakeside)}, RESUMABLE)
            await client.ping_pong()
            request = await refresh(scene, scene.lakeside, EnvironmentKind.STAGING)
            start = (await client.event("d"))["cursor"]
        cycle = [(S.PENDING_INPUT, "a?"), (S.DEFERRED, "b"), (S.TO_BE_SCHEDULED, "c")]
        for status, message in cycle * 4:  # missed while away
            await set_update_request_status(scene.staff, request.id, status, message)

        async def keep_moving() -> None:
            for status, message in cycle * 4:
                await set_update_request_status(scene.staff, request.id, status, message)
                await asyncio.sleep(0)

        async with ws_client(server, token) as client:
            mover = asyncio.create_task(keep_moving())
            for operation in ("d", "one"):
                scope = (
                    {"districtId": gid(scene.lakeside)}
                    if operation == "d"
                    else {"updateRequestId": gid(request)}
                )
                await client.subscribe(operation, {**scope, "after": start}, RESUMABLE)
            await mover
            history = (await history_of(request.id))[1:]  # the creation is before `start`
            assert len(history) == 24
            for operation in ("d", "one"):
                events = await events_of(client, operation, len(history))
                assert [(e["fromStatus"], e["toStatus"]) for e in events] == history
                assert len({e["cursor"] for e in events}) == len(history)
            await client.ping_pong()
            assert client.unread() == []


async def test_a_cursor_ahead_of_this_process_reader_skips_what_the_client_has(
    db: TestDatabase, run_id: str
) -> None:
    """The client resumes on a process whose reader has not yet handed out the client's own last
    record (another process served it): that record is not sent again, later ones are."""
    scene = await make_scene()
    token = scene.tokens["lakeside"]
    async with serve(live_settings(db, run_id)) as server, ws_client(server, token) as client:
        hub = server.hub
        deliver = hub.on_records
        gate = asyncio.Event()

        async def held(records: list[Any]) -> None:
            await gate.wait()
            await deliver(records)

        hub.on_records = held  # type: ignore[method-assign]
        request = await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
        last = await server.bus.stream.last_id()
        assert last is not None and id_key(last) > id_key(hub.position)  # the reader lags
        await client.subscribe(
            "d", {"districtId": gid(scene.lakeside), "after": public_cursor(last)}, RESUMABLE
        )
        await client.ping_pong()
        gate.set()
        await set_update_request_status(scene.staff, request.id, S.DEFERRED, "Later.")
        event = await client.event("d")
        assert moves([event]) == [("STATUS_CHANGED", "TO_BE_SCHEDULED", "DEFERRED", "DEFERRED")]
        await client.ping_pong()
        assert client.unread() == []


async def test_a_subscription_completed_during_its_catch_up_sends_nothing_more(
    db: TestDatabase, run_id: str
) -> None:
    scene = await make_scene()
    token = scene.tokens["lakeside"]
    district: dict[str, Any] = {"districtId": gid(scene.lakeside)}
    async with serve(live_settings(db, run_id)) as server:
        async with ws_client(server, token) as client:
            await client.subscribe("d", district, RESUMABLE)
            await client.ping_pong()
            request = await refresh(scene, scene.lakeside, EnvironmentKind.STAGING)
            cursor = (await client.event("d"))["cursor"]
        for status, message in [(S.PENDING_INPUT, "a?"), (S.DEFERRED, "b"), (S.TO_BE_SCHEDULED, "c")] * 3:
            await set_update_request_status(scene.staff, request.id, status, message)

        with held(server.bus.stream, "read_after") as hold:
            async with ws_client(server, token) as client:
                await client.subscribe("d", {**district, "after": cursor}, RESUMABLE)
                await asyncio.wait_for(hold.waiting.wait(), 10)
                await client.send({"id": "d", "type": "complete"})
                await client.ping_pong()  # the complete was handled
                hold.gate.set()
                await client.subscribe("s", district, RESUMABLE)
                await client.ping_pong()
                await set_update_request_status(scene.staff, request.id, S.DEFERRED, "live")
                assert moves([await client.event("s")]) == [
                    ("STATUS_CHANGED", "TO_BE_SCHEDULED", "DEFERRED", "DEFERRED")
                ]
                await client.ping_pong()
                assert [m for m in client.unread() if m.get("id") == "d"] == []
                assert server.hub.member_count == 1


async def test_a_single_request_resume_that_missed_its_cancel_ends_with_removed(
    db: TestDatabase, run_id: str
) -> None:
    scene = await make_scene()
    token = scene.tokens["lakeside"]
    request = await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
    async with serve(live_settings(db, run_id)) as server:
        async with ws_client(server, token) as client:
            await client.subscribe("one", {"updateRequestId": gid(request)}, RESUMABLE)
            assert (await client.event("one"))["type"] == "SNAPSHOT"
            await set_update_request_status(scene.staff, request.id, S.PENDING_INPUT, "Which backup?")
            cursor = (await client.event("one"))["cursor"]
        await set_update_request_status(scene.staff, request.id, S.TO_BE_SCHEDULED, "Thanks.")
        await cancel_update_request(await actor_of(scene.lakeside_tc), request.id)
        async with ws_client(server, token) as client:
            await client.subscribe("one", {"updateRequestId": gid(request), "after": cursor}, RESUMABLE)
            missed = await events_of(client, "one", 2)
            assert moves(missed) == [
                ("STATUS_CHANGED", "PENDING_INPUT", "TO_BE_SCHEDULED", "TO_BE_SCHEDULED"),
                ("REMOVED", "TO_BE_SCHEDULED", "CANCELLED", "CANCELLED"),
            ]
            assert await client.receive_for("one") == {"id": "one", "type": "complete"}
            await wait_until(lambda: server.hub.member_count == 0, "the ended subscription to leave")
            await client.ping_pong()
            assert client.unread() == []


async def test_a_resume_and_a_live_subscription_sharing_a_rendering_each_get_theirs_once(
    db: TestDatabase, run_id: str
) -> None:
    """Same document and scope on one socket, one live and one resuming (one render group): the
    resuming one gets what it missed, then both get each live event exactly once."""
    scene = await make_scene()
    district: dict[str, Any] = {"districtId": gid(scene.lakeside)}
    async with (
        serve(live_settings(db, run_id)) as server,
        ws_client(server, scene.tokens["lakeside"]) as client,
    ):
        await client.subscribe("live", district, RESUMABLE)
        await client.ping_pong()
        request = await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
        await set_update_request_status(scene.staff, request.id, S.DEFERRED, "Later.")
        created, deferred = await events_of(client, "live", 2)
        await client.subscribe("resume", {**district, "after": created["cursor"]}, RESUMABLE)
        assert (await client.event("resume"))["cursor"] == deferred["cursor"]
        assert len(server.hub.groups) == 1
        await set_update_request_status(scene.staff, request.id, S.TO_BE_SCHEDULED, "Now.")
        for operation in ("live", "resume"):
            assert moves([await client.event(operation)]) == [
                ("STATUS_CHANGED", "DEFERRED", "TO_BE_SCHEDULED", "TO_BE_SCHEDULED")
            ]
        await client.ping_pong()
        assert client.unread() == []


async def test_a_move_made_while_the_snapshot_is_taken_is_not_sent_again_after_it(
    db: TestDatabase, run_id: str
) -> None:
    """A move that reaches the process between the subscription joining and its SNAPSHOT being
    read is in the SNAPSHOT (whose cursor is that move's): it does not follow it as well."""
    scene = await make_scene()
    request = await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
    async with (
        serve(live_settings(db, run_id)) as server,
        ws_client(server, scene.tokens["lakeside"]) as client,
    ):
        with held(server.bus.stream, "last_id") as hold:
            await client.subscribe("one", {"updateRequestId": gid(request)}, RESUMABLE)
            await asyncio.wait_for(hold.waiting.wait(), 10)
            position = server.hub.position
            await set_update_request_status(scene.staff, request.id, S.DEFERRED, "Later.")
            await wait_until(lambda: server.hub.position != position, "the move to reach the hub")
            hold.gate.set()
            snapshot = await client.event("one")
        assert (snapshot["type"], snapshot["updateRequest"]["status"]) == ("SNAPSHOT", "DEFERRED")
        await set_update_request_status(scene.staff, request.id, S.TO_BE_SCHEDULED, "Now.")
        after = await client.event("one")
        assert moves([after]) == [("STATUS_CHANGED", "DEFERRED", "TO_BE_SCHEDULED", "TO_BE_SCHEDULED")]
        await client.ping_pong()
        assert client.unread() == []


async def test_a_request_cancelled_while_its_snapshot_is_taken_still_ends_the_subscription(
    db: TestDatabase, run_id: str
) -> None:
    """The REMOVED that ends a single-request subscription may come live before the subscription's
    SNAPSHOT went out: the client still gets the request's state and the `complete`."""
    scene = await make_scene()
    request = await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
    async with (
        serve(live_settings(db, run_id)) as server,
        ws_client(server, scene.tokens["lakeside"]) as client,
    ):
        with held(server.bus.stream, "last_id") as hold:
            await client.subscribe("one", {"updateRequestId": gid(request)}, RESUMABLE)
            await asyncio.wait_for(hold.waiting.wait(), 10)
            position = server.hub.position
            await cancel_update_request(await actor_of(scene.lakeside_tc), request.id)
            await wait_until(lambda: server.hub.position != position, "the cancel to reach the hub")
            hold.gate.set()
            seen = [await client.receive_for("one")]
            while seen[-1]["type"] == "next":
                seen.append(await client.receive_for("one"))
        assert seen[-1] == {"id": "one", "type": "complete"}
        shown = [m["payload"]["data"]["updateRequestEvents"] for m in seen[:-1]]
        assert shown and shown[-1]["updateRequest"]["status"] == "CANCELLED"
        assert len({e["cursor"] for e in shown}) == len(shown)
        assert server.hub.member_count == 0


async def test_a_catch_up_that_fails_completes_the_subscription(db: TestDatabase, run_id: str) -> None:
    """The stream cannot be read while a resume catches up: the client is told the operation is
    over (`complete`), so that it subscribes again, instead of waiting on a dead operation."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    scene = await make_scene()
    token = scene.tokens["lakeside"]
    district: dict[str, Any] = {"districtId": gid(scene.lakeside)}
    async with serve(live_settings(db, run_id)) as server:
        async with ws_client(server, token) as client:
            await client.subscribe("d", district, RESUMABLE)
            await client.ping_pong()
            request = await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
            cursor = (await client.event("d"))["cursor"]
        await set_update_request_status(scene.staff, request.id, S.DEFERRED, "Later.")
        stream = server.bus.stream
        read_after = stream.read_after

        async def unreachable(after: str, count: int) -> list[Any]:
            raise RedisConnectionError("Redis is unreachable from this process")

        stream.read_after = unreachable  # type: ignore[method-assign]
        try:
            async with ws_client(server, token) as client:
                await client.subscribe("d", {**district, "after": cursor}, RESUMABLE)
                assert await client.receive_for("d") == {"id": "d", "type": "complete"}
                await wait_until(lambda: server.hub.member_count == 0, "the failed subscription to leave")
        finally:
            stream.read_after = read_after  # type: ignore[method-assign]


async def test_the_embedded_stream_resumes_as_redis_does(db: TestDatabase, run_id: str) -> None:
    """No Redis: the in-process stream's cursors resume with exactly the missed moves, the last
    event's cursor repeats nothing, and a cursor it never had starts with the present."""
    scene = await make_scene()
    token = scene.tokens["lakeside"]
    district: dict[str, Any] = {"districtId": gid(scene.lakeside)}
    async with serve(live_settings(db, run_id, redis_url=None)) as server:
        async with ws_client(server, token) as client:
            await client.subscribe("d", district, RESUMABLE)
            await client.ping_pong()
            request = await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
            created = await client.event("d")
        await set_update_request_status(scene.staff, request.id, S.PENDING_INPUT, "Which backup?")
        await set_update_request_status(scene.staff, request.id, S.TO_BE_SCHEDULED, "Thanks.")
        ahead = public_cursor(f"{int(now().timestamp() * 1000) + 3_600_000}-0")
        async with ws_client(server, token) as client:
            await client.subscribe("d", {**district, "after": created["cursor"]}, RESUMABLE)
            missed = await events_of(client, "d", 2)
            assert moves(missed) == [
                ("STATUS_CHANGED", "TO_BE_SCHEDULED", "PENDING_INPUT", "PENDING_INPUT"),
                ("STATUS_CHANGED", "PENDING_INPUT", "TO_BE_SCHEDULED", "TO_BE_SCHEDULED"),
            ]
            await client.subscribe("last", {**district, "after": missed[-1]["cursor"]}, RESUMABLE)
            await client.subscribe("one", {"updateRequestId": gid(request), "after": ahead}, RESUMABLE)
            assert moves([await client.event("one")]) == [("SNAPSHOT", None, None, "TO_BE_SCHEDULED")]
            await client.ping_pong()
            assert client.unread() == []
            await set_update_request_status(scene.staff, request.id, S.DEFERRED, "Later.")
            for operation in ("d", "last", "one"):
                event = await client.event(operation)
                assert moves([event]) == [("STATUS_CHANGED", "TO_BE_SCHEDULED", "DEFERRED", "DEFERRED")]
