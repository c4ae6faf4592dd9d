"""Access ends on a WebSocket opened before: a real server, a real graphql-transport-ws client.

A revoked or expired token or a switched-off account closes the socket with 4403 and a reason, at
the next query or mutation and, when nothing flows, within a second; a removed district link
refuses that district like any foreign one. On SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from models.accounts import set_active
from models.clock import utcnow
from models.enums import Role
from models.tables import Account, ApiToken, District, UpdateRequest
from models.tokens import revoke_token
from tests.factories import make_account, make_catalog, make_district, make_token
from tests.schema.test_subscriptions import live_settings
from tests.support import TestDatabase
from tests.support_graphql import gid
from tests.support_live import LiveServer, WsClient, live_server, ws_client

DISTRICTS = "query Districts { districts { id name } }"
DISTRICT = "query District($id: ID!) { district(id: $id) { id name } }"
REQUEST = """
mutation Refresh($input: RequestUpdateInput!) {
  requestUpdate(input: $input) { updateRequest { id } errors { code message } }
}
"""


@dataclass
class Scene:
    lakeside: District
    riverside: District
    contact: Account
    token: str


async def make_scene() -> Scene:
    await make_catalog()
    lakeside = await make_district("Lakeside Public Schools")
    riverside = await make_district("Riverside Unified")
    contact = await make_account(Role.STATE_CONTACT, [lakeside, riverside], email="state@example.gov")
    return Scene(lakeside, riverside, contact, await make_token(contact))


def refresh_of(district: District) -> dict[str, Any]:
    return {"input": {"districtId": gid(district), "kind": "DATABASE_REFRESH", "environment": "SANDBOX"}}


async def run(
    client: WsClient, operation_id: str, query: str, variables: dict[str, Any] | None = None
) -> None:
    with contextlib.suppress(ConnectionClosed):  # the server may already have closed it
        await client.subscribe(operation_id, variables, query=query)


async def answer(
    client: WsClient, operation_id: str, query: str, variables: dict[str, Any] | None = None
) -> Any:
    await run(client, operation_id, query, variables)
    message = await client.receive_for(operation_id)
    assert message["type"] == "next", message
    assert await client.receive_for(operation_id) == {"id": operation_id, "type": "complete"}
    return message["payload"]


async def closed_without_data(client: WsClient) -> str:
    code, reason = await client.closed()
    assert code == 4403, (code, reason)
    assert not [m for m in client.unread() if m.get("type") == "next"], client.unread()
    assert reason
    return reason


@pytest.fixture(params=[True, False], ids=["with live hub", "without live hub"])
def live(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.mark.parametrize("operation", ["query", "mutation"])
async def test_a_revoked_token_stops_queries_and_mutations_on_an_open_socket(
    db: TestDatabase, run_id: str, live: bool, operation: str
) -> None:
    scene = await make_scene()
    settings = live_settings(db, run_id, redis_url=None)  # re-check on every operation
    async with live_server(settings, live=live) as server, ws_client(server, scene.token) as client:
        before = await answer(client, "before", DISTRICTS)
        assert len(before["data"]["districts"]) == 2  # the socket worked

        assert await revoke_token(scene.token)
        if operation == "query":
            await run(client, "after", DISTRICTS)
        else:
            await run(client, "after", REQUEST, refresh_of(scene.lakeside))
        assert "revoked" in await closed_without_data(client)
    assert await UpdateRequest.all().count() == 0  # the mutation did not run


async def test_a_switched_off_account_and_an_expired_token_close_the_socket(
    db: TestDatabase, run_id: str
) -> None:
    scene = await make_scene()
    settings = live_settings(db, run_id, redis_url=None)
    async with live_server(settings, live=False) as server:
        async with ws_client(server, scene.token) as client:
            await answer(client, "before", DISTRICTS)
            assert await set_active(scene.contact.id, False)
            await run(client, "after", DISTRICTS)
            assert "deactivated" in await closed_without_data(client)

        assert await set_active(scene.contact.id, True)
        async with ws_client(server, scene.token) as client:
            await answer(client, "before", DISTRICTS)
            await ApiToken.filter(account_id=scene.contact.id).update(
                expires_at=utcnow() - timedelta(seconds=1)
            )
            await run(client, "after", REQUEST, refresh_of(scene.lakeside))
            assert "expired" in await closed_without_data(client)
    assert await UpdateRequest.all().count() == 0


async def test_a_removed_district_link_refuses_that_district_like_a_foreign_one(
    db: TestDatabase, run_id: str, live: bool
) -> None:
    scene = await make_scene()
    settings = live_settings(db, run_id, redis_url=None)
    async with live_server(settings, live=live) as server, ws_client(server, scene.token) as client:
        lakeside = {"id": gid(scene.lakeside), "name": scene.lakeside.name}
        assert (await answer(client, "before", DISTRICT, {"id": gid(scene.lakeside)}))["data"] == {
            "district": lakeside
        }
        await scene.contact.districts.remove(scene.lakeside)

        assert (await answer(client, "one", DISTRICT, {"id": gid(scene.lakeside)}))["data"] == {
            "district": None
        }
        names = [d["name"] for d in (await answer(client, "all", DISTRICTS))["data"]["districts"]]
        assert names == [scene.riverside.name]
        refused = (await answer(client, "request", REQUEST, refresh_of(scene.lakeside)))["data"]
        assert refused["requestUpdate"]["updateRequest"] is None
        assert [e["code"] for e in refused["requestUpdate"]["errors"]] == ["NOT_FOUND"]
        allowed = (await answer(client, "other", REQUEST, refresh_of(scene.riverside)))["data"]
        assert allowed["requestUpdate"]["errors"] == []  # the socket and its other district work on
    assert await UpdateRequest.filter(district_id=scene.lakeside.id).count() == 0


async def _closed_within(client: WsClient, started: float) -> tuple[str, float]:
    reason = await closed_without_data(client)
    return reason, time.monotonic() - started


async def test_idle_sockets_close_within_a_second_of_revocation_or_deactivation(
    db: TestDatabase, run_id: str
) -> None:
    """Nothing is sent on these sockets: the hub's watch closes them (default re-check: 1 s)."""
    scene = await make_scene()
    second_token = await make_token(scene.contact)
    other = await make_account(Role.TECHNICAL_CONTACT, [scene.riverside], email="tc@riverside.example")
    settings = live_settings(db, run_id, redis_url=None, ws_auth_recheck_seconds=1.0)
    server: LiveServer
    async with (
        live_server(settings) as server,
        ws_client(server, scene.token) as first,
        ws_client(server, second_token) as second,
        ws_client(server, await make_token(other)) as bystander,
    ):
        started = time.monotonic()
        assert await revoke_token(scene.token)
        reason, elapsed = await _closed_within(first, started)
        assert "revoked" in reason and elapsed < 1.5, elapsed

        await second.ping_pong()  # the account's other token still works
        started = time.monotonic()
        assert await set_active(scene.contact.id, False)
        reason, elapsed = await _closed_within(second, started)
        assert "deactivated" in reason and elapsed < 1.5, elapsed

        assert (await answer(bystander, "still", DISTRICTS))["data"]["districts"][0][
            "name"
        ] == "Riverside Unified"
