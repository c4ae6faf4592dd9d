"""WebSocket limits on a real uvicorn server with a real client: 1 MiB per message (1009), open
sockets per client address and per account, subscribe messages per socket (4429 with a reason)."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from infra.settings import Settings
from models.enums import Role
from tests.factories import make_account, make_district, make_token
from tests.support import TestDatabase
from tests.support_graphql import gid
from tests.support_live import LiveServer, live_server, wait_until, ws_client
from updatedesk.http import MAX_BODY_BYTES
from updatedesk.ws_limits import TOO_MANY, SocketCounts

SUBSCRIBE = "subscription($d: ID) { updateRequestEvents(districtId: $d) { type } }"


def settings(db: TestDatabase, **values: Any) -> Settings:
    return Settings(**{"database_url": db.url, "redis_url": None, **values})


def counts(server: LiveServer) -> SocketCounts:
    socket_counts: SocketCounts = server.app.state.graphql.socket_counts
    return socket_counts


async def test_a_message_over_one_mebibyte_closes_the_socket(db: TestDatabase) -> None:
    token = await make_token(await make_account(Role.HOSTING_STAFF))
    async with live_server(settings(db)) as server:
        async with ws_client(server, init=False) as client:
            # Just under the limit is a message like any other (the padding is ignored).
            near = {"Authorization": f"Bearer {token}", "pad": "x" * (MAX_BODY_BYTES - 200)}
            await client.send({"type": "connection_init", "payload": near})
            assert (await client.receive())["type"] == "connection_ack"
        async with ws_client(server, init=False) as client:
            await client.send({"type": "connection_init", "payload": {"pad": "x" * MAX_BODY_BYTES}})
            code, reason = await client.closed()
        assert code == 1009 and reason and "exceeds limit" in reason
        await wait_until(lambda: not counts(server).by_address, "the closed sockets to be released")


async def test_open_sockets_per_client_address_are_capped(db: TestDatabase) -> None:
    async with (
        live_server(settings(db, ws_max_sockets_per_address=3)) as server,
        ws_client(server, init=False) as first,
        ws_client(server, init=False) as second,
        AsyncExitStack() as third_socket,
    ):
        third = await third_socket.enter_async_context(ws_client(server, init=False))
        for client in (first, second, third):
            await client.ping_pong()  # the server has counted it
        async with ws_client(server, init=False) as fourth:
            code, reason = await fourth.closed()
        assert code == TOO_MANY and reason and "from this address: at most 3" in reason
        await third.ping_pong()  # the others stay open
        await third_socket.aclose()
        await wait_until(lambda: sum(counts(server).by_address.values()) == 2, "the third to be released")
        async with ws_client(server, init=False) as again:
            await again.ping_pong()


async def test_open_sockets_per_account_are_capped(db: TestDatabase) -> None:
    account = await make_account(Role.HOSTING_STAFF)
    token = await make_token(account)
    other = await make_token(await make_account(Role.HOSTING_STAFF))
    async with (
        live_server(settings(db, ws_max_sockets_per_account=2)) as server,
        ws_client(server, token),
        ws_client(server, token) as second,
    ):
        async with ws_client(server, init=False) as third:
            await third.send({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
            code, reason = await third.closed()
        assert code == TOO_MANY and reason and "for this account: at most 2" in reason
        assert third.unread() == []  # no ack came first
        async with ws_client(server, other) as someone_else:  # another account is not held back
            await someone_else.ping_pong()
        await second.connection.close()
        await wait_until(lambda: counts(server).by_account[account.id] == 1, "the second to be released")
        async with ws_client(server, token) as again:
            await again.ping_pong()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_subscribe_messages_are_rate_limited(db: TestDatabase) -> None:
    district = await make_district()
    token = await make_token(await make_account(Role.TECHNICAL_CONTACT, [district]))
    clock = Clock()
    async with live_server(settings(db, ws_subscribe_burst=3, ws_subscribes_per_second=1)) as server:
        server.app.state.graphql.clock = clock
        async with ws_client(server, token) as client:
            for number in range(3):
                await client.subscribe(f"s{number}", {"d": gid(district)}, SUBSCRIBE)
            await client.ping_pong()  # the server has taken them
            clock.now += 1.0  # one more token
            await client.subscribe("s3", {"d": gid(district)}, SUBSCRIBE)
            await client.ping_pong()  # still open
            await client.subscribe("s4", {"d": gid(district)}, SUBSCRIBE)
            code, reason = await client.closed()
    assert (
        code == TOO_MANY
        and reason
        and "Too many subscribe messages: at most 3 at once, then 1 per second" in reason
    )


async def test_the_document_checks_apply_over_websocket_too(db: TestDatabase) -> None:
    district = await make_district()
    token = await make_token(await make_account(Role.TECHNICAL_CONTACT, [district]))
    costly = (
        "subscription { updateRequestEvents { updateRequest { district { "
        "updateRequests(first: 100) { edges { node { history { at } } } } } } } }"
    )
    async with live_server(settings(db, query_max_cost=1000)) as server, ws_client(server, token) as client:
        await client.subscribe("nul", {"d": "x\x00"}, SUBSCRIBE)
        await client.subscribe("cost", {}, costly)
        refusals = {}
        for name in ("nul", "cost"):
            message = await client.receive_for(name)
            assert message["type"] == "error", message
            refusals[name] = message["payload"][0]["extensions"]
        await client.ping_pong()  # the socket stays open
    assert refusals["nul"] == {"code": "VALIDATION", "field": "districtId"}
    assert refusals["cost"] == {
        "code": "QUERY_TOO_COMPLEX",
        "cost": 1 + 1 + 1 + 1 + 100 * 12,
        "maxCost": 1000,
    }
