"""A role changed while a WebSocket is open takes effect on that socket's next operation, as a
removed link does (tests/schema/test_access_ends.py): a contact demoted to VIEWER can still read
but no longer write; hosting staff demoted to a district contact no longer see other districts.
A real server and a real graphql-transport-ws client, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from models.enums import EnvironmentKind as E
from models.enums import Role, UpdateKind, UpdateStatus
from models.requests.requesting import request_update
from models.requests.staff import set_update_request_status
from models.tables import Account, UpdateRequest
from tests.factories import actor_of, make_account, make_request, make_token
from tests.schema.test_access_ends import DISTRICTS, REQUEST, answer, make_scene, refresh_of
from tests.schema.test_subscriptions import listening, live_settings
from tests.support import TestDatabase
from tests.support_graphql import gid
from tests.support_live import live_server, ws_client

FETCH = "query One($id: ID!) { updateRequest(id: $id) { id canCancel } }"
CANCEL = """mutation Cancel($id: ID!) {
  cancelUpdateRequest(id: $id) { updateRequest { status } errors { code } } }"""


@pytest.fixture(params=[True, False], ids=["with live hub", "without live hub"])
def live(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


async def test_a_contact_demoted_to_viewer_reads_on_but_writes_nothing(
    db: TestDatabase, run_id: str, live: bool
) -> None:
    scene = await make_scene()
    settings = live_settings(db, run_id, redis_url=None)  # re-check on every operation
    async with live_server(settings, live=live) as server, ws_client(server, scene.token) as client:
        made = (await answer(client, "made", REQUEST, refresh_of(scene.lakeside)))["data"]["requestUpdate"]
        request_id = made["updateRequest"]["id"]
        before = (await answer(client, "before", FETCH, {"id": request_id}))["data"]["updateRequest"]
        assert before == {"id": request_id, "canCancel": True}

        await Account.filter(id=scene.contact.id).update(role=Role.VIEWER)
        after = (await answer(client, "after", FETCH, {"id": request_id}))["data"]["updateRequest"]
        assert after == {"id": request_id, "canCancel": False}
        cancel = (await answer(client, "cancel", CANCEL, {"id": request_id}))["data"]["cancelUpdateRequest"]
        assert cancel == {"updateRequest": None, "errors": [{"code": "FORBIDDEN"}]}
        refused = (await answer(client, "request", REQUEST, refresh_of(scene.riverside)))["data"]
        assert [e["code"] for e in refused["requestUpdate"]["errors"]] == ["FORBIDDEN"]
    assert [r.status.value for r in await UpdateRequest.all()] == ["TO_BE_SCHEDULED"]


async def test_staff_demoted_to_a_district_contact_lose_sight_of_other_districts(
    db: TestDatabase, run_id: str, live: bool
) -> None:
    scene = await make_scene()
    staff = await make_account(Role.HOSTING_STAFF, [scene.lakeside], email="staff@host.example")
    elsewhere = await make_request(scene.riverside)
    settings = live_settings(db, run_id, redis_url=None)
    async with (
        live_server(settings, live=live) as server,
        ws_client(server, await make_token(staff)) as client,
    ):
        seen = (await answer(client, "before", FETCH, {"id": gid(elsewhere)}))["data"]["updateRequest"]
        assert seen == {"id": gid(elsewhere), "canCancel": True}

        await Account.filter(id=staff.id).update(role=Role.TECHNICAL_CONTACT)
        assert (await answer(client, "after", FETCH, {"id": gid(elsewhere)}))["data"] == {
            "updateRequest": None
        }
        names = [d["name"] for d in (await answer(client, "all", DISTRICTS))["data"]["districts"]]
        assert names == [scene.lakeside.name]
        cancel = (await answer(client, "cancel", CANCEL, {"id": gid(elsewhere)}))["data"][
            "cancelUpdateRequest"
        ]
        assert cancel == {"updateRequest": None, "errors": [{"code": "NOT_FOUND"}]}
    assert (await UpdateRequest.get(id=elsewhere.id)).status.value == "TO_BE_SCHEDULED"


EVENTS = """subscription Events($requestId: ID) {
  updateRequestEvents(updateRequestId: $requestId) {
    type updateRequest { id canCancel district { id } } } }"""


async def test_open_subscriptions_follow_a_role_change(db: TestDatabase, run_id: str) -> None:
    """Staff demoted to Lakeside's contact: a subscription narrowed to a Riverside request ends
    NOT_FOUND, the unnarrowed one carries nothing of Riverside any more. A state contact demoted
    to VIEWER: events go on, and a request it could cancel before now says canCancel false."""
    scene = await make_scene()
    staff = await make_account(Role.HOSTING_STAFF, [scene.lakeside], email="staff@host.example")
    other_staff = await actor_of(await make_account(Role.HOSTING_STAFF, email="ops@host.example"))
    elsewhere = await make_request(scene.riverside)
    settings = live_settings(db, run_id, redis_url=None)
    async with (
        live_server(settings) as server,
        ws_client(server, await make_token(staff)) as staff_socket,
        ws_client(server, scene.token) as contact_socket,
    ):
        await staff_socket.subscribe("one", {"requestId": gid(elsewhere)}, query=EVENTS)
        assert (await staff_socket.event("one"))["type"] == "SNAPSHOT"
        await staff_socket.subscribe("all", query=EVENTS)
        await contact_socket.subscribe("all", query=EVENTS)
        await listening(server, 3)

        await Account.filter(id=staff.id).update(role=Role.TECHNICAL_CONTACT)
        await Account.filter(id=scene.contact.id).update(role=Role.VIEWER)
        await set_update_request_status(other_staff, elsewhere.id, UpdateStatus.DEFERRED, "Waiting on you.")
        message = await staff_socket.receive_for("one")
        assert message["type"] == "next", message
        assert message["payload"]["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        assert await staff_socket.receive_for("one") == {"id": "one", "type": "complete"}

        colleague = await actor_of(await make_account(Role.TECHNICAL_CONTACT, [scene.lakeside]))
        sentinel = await request_update(
            colleague, district_id=scene.lakeside.id, kind=UpdateKind.DATABASE_REFRESH, environment=E.SANDBOX
        )
        # The contact (a state contact of both districts) still sees Riverside, read only now.
        seen = await contact_socket.event("all")
        assert seen["updateRequest"] == {
            "id": gid(elsewhere),
            "canCancel": False,
            "district": {"id": gid(scene.riverside)},
        }, seen
        for socket, may_cancel in ((staff_socket, True), (contact_socket, False)):
            event = await socket.event("all")
            assert event["updateRequest"] == {  # for the demoted staff: nothing of Riverside first
                "id": gid(sentinel),
                "canCancel": may_cancel,
                "district": {"id": gid(scene.lakeside)},
            }, event
    stored = await UpdateRequest.get(id=elsewhere.id)
    assert stored.status is UpdateStatus.DEFERRED
