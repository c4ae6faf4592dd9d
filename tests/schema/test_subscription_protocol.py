"""graphql-transport-ws behaviour of WebSocket /graphql on a real uvicorn server with a real
client: every close code, ping/pong, complete in both directions, the per-connection cap, slow
subscribers, compression off. The in-process bus is enough here (Redis has its own tests)."""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from typing import Any

from infra.bus import InProcessBus
from infra.bus.records import id_key
from infra.settings import Settings
from models.enums import EventType, Role, UpdateStatus
from models.events import ProgressReport, UpdateRequestChanged
from models.tables import District, UpdateRequest
from models.tokens import UNKNOWN_TOKEN
from resolvers.live.outbox import CLOSE_TOO_SLOW, Outbox
from tests.factories import make_account, make_district, make_request, make_token
from tests.support import TestDatabase
from tests.support_graphql import gid
from tests.support_live import LiveServer, live_server, wait_until, ws_client
from tests.support_silent import SilentClient, silent_client

#: Records published at once while a socket fills up.
BURST = 200
#: A subscription whose events the record alone answers (no database read per event).
LIGHT = "subscription { updateRequestEvents { type progress { percent } updateRequest { id status } } }"
#: A document that is only valid as a subscription that needs no database to start failing.
PING_QUERY = "query { __typename }"


def settings(db: TestDatabase | None = None, **values: Any) -> Settings:
    options: dict[str, Any] = {"redis_url": None, "ws_auth_recheck_seconds": 0}
    if db is not None:
        options["database_url"] = db.url
    options.update(values)
    return Settings(**options)


async def staff_token() -> str:
    return await make_token(await make_account(Role.HOSTING_STAFF, email="ops@hosting.example"))


async def one_request() -> tuple[District, UpdateRequest]:
    district = await make_district("Lakeside Public Schools")
    return district, await make_request(district)


def in_process_bus(server: LiveServer) -> InProcessBus:
    bus = server.bus
    assert isinstance(bus, InProcessBus)
    return bus


def status_changed(
    request: UpdateRequest, kind: EventType = EventType.STATUS_CHANGED
) -> UpdateRequestChanged:
    now = datetime.now(UTC)
    return UpdateRequestChanged(kind, request.id, request.district_id, UpdateStatus.SCHEDULED, now)


# --------------------------------------------------------------------------- close codes


async def test_4408_when_connection_init_does_not_come_in_time() -> None:
    async with (
        live_server(settings(ws_init_timeout_seconds=0.2)) as server,
        ws_client(server) as client,
    ):
        assert await client.closed() == (4408, "Connection initialisation timeout")


async def test_4401_on_subscribe_before_the_ack_says_what_to_do() -> None:
    async with live_server(settings()) as server, ws_client(server) as client:
        await client.subscribe("1")
        code, reason = await client.closed()
        assert code == 4401
        assert reason == "Unauthorized: send connection_init and wait for connection_ack before subscribing."


async def test_4403_without_a_valid_token_says_why(db: TestDatabase) -> None:
    expected = {
        "none": 'Forbidden: connection_init must carry {"Authorization": "Bearer <token>"}.',
        "unknown": f"Forbidden: {UNKNOWN_TOKEN}",
        "basic": "Forbidden: Sign in: send 'Authorization: Bearer <token>'.",
    }
    payloads = {
        "none": {},
        "unknown": {"Authorization": "Bearer ud_not-a-token"},
        "basic": {"Authorization": "Basic x"},
    }
    async with live_server(settings(db)) as server:
        for name, payload in payloads.items():
            async with ws_client(server) as client:
                await client.send({"type": "connection_init", "payload": payload})
                assert await client.closed() == (4403, expected[name])


async def test_4406_for_any_other_subprotocol() -> None:
    async with live_server(settings()) as server, ws_client(server, protocols=("graphql-ws",)) as client:
        assert client.connection.subprotocol is None
        assert await client.closed() == (4406, "Subprotocol not acceptable")


async def test_4429_on_a_second_connection_init(db: TestDatabase) -> None:
    token = await staff_token()
    async with live_server(settings(db)) as server, ws_client(server, token) as client:
        await client.send({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        assert await client.closed() == (4429, "Too many initialisation requests")


async def test_4409_on_a_duplicate_operation_id(db: TestDatabase) -> None:
    token = await staff_token()
    async with live_server(settings(db)) as server, ws_client(server, token) as client:
        await client.subscribe("same")
        await client.subscribe("same")
        assert await client.closed() == (4409, "Subscriber for same already exists")


# --------------------------------------------------------------------------- messages


async def test_ping_pong_and_complete_in_both_directions(db: TestDatabase) -> None:
    token = await staff_token()
    _, request = await one_request()
    async with live_server(settings(db)) as server, ws_client(server, token) as client:
        bus = in_process_bus(server)
        await client.send({"type": "ping", "payload": {"hello": 1}})
        assert await client.receive() == {"type": "pong"}

        # A subscription listens before the socket's next message is read: the pong says so.
        await client.subscribe("all")
        await client.ping_pong()
        assert server.hub.member_count == 1
        # Client -> server complete: the operation stops and leaves the hub.
        await client.send({"id": "all", "type": "complete"})
        await wait_until(lambda: server.hub.member_count == 0, "the completed subscription to leave the bus")
        await bus.publish(status_changed(request))
        await client.ping_pong()
        assert client.unread() == []

        # Server -> client complete: a single-request subscription ends after REMOVED.
        await client.subscribe("one", {"updateRequestId": gid(request)})
        assert (await client.event("one"))["type"] == "SNAPSHOT"
        await UpdateRequest.filter(id=request.id).update(status=UpdateStatus.CANCELLED)
        await bus.publish(status_changed(request, EventType.REMOVED))
        assert (await client.event("one"))["type"] == "REMOVED"
        assert await client.receive_for("one") == {"id": "one", "type": "complete"}
        await wait_until(lambda: server.hub.member_count == 0, "the finished subscription to leave the bus")

        # A query over the socket is answered once, then completed.
        await client.subscribe("q", query=PING_QUERY)
        assert await client.receive_for("q") == {
            "id": "q",
            "type": "next",
            "payload": {"data": {"__typename": "Query"}},
        }
        assert await client.receive_for("q") == {"id": "q", "type": "complete"}


async def test_subscriptions_per_connection_are_capped(db: TestDatabase) -> None:
    token = await staff_token()
    async with (
        live_server(settings(db, ws_max_subscriptions=2)) as server,
        ws_client(server, token) as client,
    ):
        await client.subscribe("1")
        await client.subscribe("2")
        await client.subscribe("3")
        message = await client.receive_for("3")
        assert message["type"] == "error"
        assert message["payload"][0]["message"] == "Subscription limit reached"
        # The connection stays usable; a freed place can be used again.
        await client.send({"id": "1", "type": "complete"})
        await client.ping_pong()
        await client.subscribe("4")
        await wait_until(lambda: server.hub.member_count == 2, "two subscriptions")


async def test_errors_of_the_subscription_are_messages_not_closes(db: TestDatabase) -> None:
    token = await staff_token()
    async with live_server(settings(db)) as server, ws_client(server, token) as client:
        await client.subscribe("bad", {"updateRequestId": "nonsense"})
        message = await client.receive_for("bad")
        assert message["type"] == "error"
        assert message["payload"][0]["extensions"] == {"code": "NOT_FOUND", "field": "updateRequestId"}
        await client.subscribe("syntax", query="subscription { updateRequestEvents { nope } }")
        message = await client.receive_for("syntax")
        assert message["type"] == "error"
        await client.ping_pong()


# --------------------------------------------------------------------------- slow subscribers


async def slow_subscriber(server: LiveServer, token: str) -> tuple[SilentClient, Outbox]:
    """A subscriber to everything that has stopped reading, and its socket's outbox."""
    client = await silent_client(server, token)
    client.send({"id": "all", "type": "subscribe", "payload": {"query": LIGHT}})
    await wait_until(lambda: server.hub.member_count == 1, "the subscription to reach the hub")
    assert client.transport is not None
    client.transport.pause_reading()
    (group,) = server.hub.groups.values()
    (member,) = group.members
    return client, member.connection.outbox


async def publish(server: LiveServer, *events: UpdateRequestChanged) -> None:
    """Publish and wait until the hub has handed the records to its subscriptions."""
    record_id = None
    for event in events:
        record_id = await in_process_bus(server).publish(event)
    assert record_id is not None
    last = id_key(record_id)
    await wait_until(lambda: id_key(server.hub.position) >= last, "the hub to deliver them")


async def test_while_a_socket_backs_up_progress_is_coalesced_and_status_changes_kept(
    db: TestDatabase,
) -> None:
    token = await staff_token()
    _, request = await one_request()
    async with live_server(settings(db, ws_subscriber_queue=1000)) as server:
        client, outbox = await slow_subscriber(server, token)
        published = 0
        while not len(outbox):  # until the socket makes its writer wait
            await publish(server, *(status_changed(request) for _ in range(BURST)))
            published += BURST
        for percent in range(1, 51):
            await publish(
                server,
                UpdateRequestChanged(
                    EventType.PROGRESS, request.id, request.district_id, UpdateStatus.IN_PROGRESS,
                    datetime.now(UTC), ProgressReport(percent, "copy", None, datetime.now(UTC)),
                ),
            )  # fmt: skip
        await publish(server, status_changed(request))
        assert outbox.coalesced == 49 and not outbox.closed
        assert client.transport is not None
        client.transport.resume_reading()
        client.send({"type": "ping"})
        await wait_until(lambda: client.frames()[-1:] == [(0x1, b'{"type":"pong"}')], "all before the pong")
        events = [
            m["payload"]["data"]["updateRequestEvents"] for m in client.messages() if m.get("type") == "next"
        ]
        assert [e["type"] for e in events] == ["STATUS_CHANGED"] * published + ["PROGRESS", "STATUS_CHANGED"]
        assert events[-2]["progress"]["percent"] == 50


async def test_a_socket_that_cannot_keep_up_is_closed_1013(db: TestDatabase) -> None:
    token = await staff_token()
    _, request = await one_request()
    async with live_server(settings(db, ws_subscriber_queue=4)) as server:
        client, outbox = await slow_subscriber(server, token)
        published = 0
        while not outbox.closed:  # status changes are never dropped: the socket is closed instead
            await publish(server, *(status_changed(request) for _ in range(BURST)))
            published += BURST
            assert published < 20_000, "the slow socket was never closed"
        assert client.transport is not None
        client.transport.resume_reading()
        await wait_until(lambda: [opcode for opcode, _ in client.frames()[-1:]] == [0x8], "the close frame")
        opcode, payload = client.frames()[-1]
        assert opcode == 0x8  # close
        assert struct.unpack("!H", payload[:2])[0] == CLOSE_TOO_SLOW == 1013
        assert payload[2:].decode().startswith("Too slow")
        delivered = [m for m in client.messages() if m.get("type") == "next"]
        assert len(delivered) < published  # what could not be sent went with the close, never silently


# --------------------------------------------------------------------------- transport


async def test_websocket_compression_is_off() -> None:
    async with live_server(settings()) as server, ws_client(server) as client:
        # The client offers permessage-deflate (the websockets default); the server declines.
        request, response = client.connection.request, client.connection.response
        assert request is not None and response is not None
        assert "permessage-deflate" in (request.headers.get("Sec-WebSocket-Extensions") or "")
        assert response.headers.get("Sec-WebSocket-Extensions") is None
        assert client.connection.subprotocol == "graphql-transport-ws"


async def test_a_syntax_error_is_answered_with_an_error_message(db: TestDatabase) -> None:
    token = await staff_token()
    async with live_server(settings(db)) as server, ws_client(server, token) as client:
        for operation, query in (
            ("subscription", "subscription { updateRequestEvents { type "),
            ("query", "query { viewer { account { email } "),
            ("tokens", "subscription { updateRequestEvents { " + "type " * 3000 + "} }"),
        ):
            await client.subscribe(operation, query=query)
            message = await client.receive_for(operation)
            assert message["type"] == "error", message
            assert message["payload"][0]["message"].startswith("Syntax Error"), message
        await client.ping_pong()  # the socket stays open
        await client.subscribe("fine")
        await wait_until(lambda: server.hub.member_count == 1, "a valid subscription after the errors")
