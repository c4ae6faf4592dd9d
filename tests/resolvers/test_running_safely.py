"""Issue 12 through the API: waitingFor, internalDetail (staff only), deletedAt / deletedBy and
includeDeleted (staff only), IDEMPOTENCY_KEY_REUSED, WINDOW_TOO_SHORT, and a requestUpdate refusal
that never names a field the mutation has not got."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from models.enums import EnvironmentKind, Role, UpdateKind, UpdateStatus
from models.errors import invalid_transition
from models.maintenance import upcoming_slots
from models.requests.withdrawing import delete_update_request
from models.tables import Environment, UpdateRequest
from resolvers import requests as request_resolvers
from tests.factories import actor_of, make_account, make_catalog, make_district, make_request, make_token
from tests.support_graphql import api_client, gid

S = UpdateStatus
E = EnvironmentKind
READ = """query($id: ID!) { updateRequest(id: $id) {
  status internalDetail deletedAt waitingFor { id kind status } } }"""
REQUEST = """mutation($input: RequestUpdateInput!) {
  requestUpdate(input: $input) { updateRequest { id } errors { code message field } } }"""
SCHEDULE = """mutation($id: ID!, $start: DateTime!) {
  scheduleUpdateRequest(id: $id, start: $start) { updateRequest { id } errors { code message field } } }"""
LIST = """query($deleted: Boolean) { updateRequests(includeDeleted: $deleted, hideCompleted: false) {
  totalCount edges { node { id deletedAt deletedBy { email } } } } }"""


async def setup() -> dict:
    await make_catalog()
    district = await make_district("Lakeside")
    contact = await make_account(Role.TECHNICAL_CONTACT, [district], email="tc@lakeside.example")
    staff = await make_account(Role.HOSTING_STAFF, email="staff@host.example")
    return {
        "district": district,
        "contact": contact,
        "tc": await make_token(contact),
        "staff": await make_token(staff),
    }


async def test_internal_detail_is_for_hosting_staff_only(db) -> None:
    s = await setup()
    request = await make_request(s["district"], status=S.UNABLE_TO_COMPLETE)
    await UpdateRequest.filter(id=request.id).update(
        status_message="The step could not be completed.", internal_detail="pg_restore: disk full on /srv"
    )
    async with api_client() as client:
        staff = await client.data(READ, {"id": gid(request)}, s["staff"])
        district = await client.data(READ, {"id": gid(request)}, s["tc"])
    assert staff["updateRequest"]["internalDetail"] == "pg_restore: disk full on /srv"
    assert district["updateRequest"]["internalDetail"] is None


async def test_waiting_for_names_the_request_holding_the_site(db) -> None:
    s = await setup()
    update = await make_request(s["district"], status=S.IN_PROGRESS)
    due = datetime.now(UTC) - timedelta(minutes=1)
    refresh = await make_request(
        s["district"],
        kind=UpdateKind.DATABASE_REFRESH,
        environment=E.SANDBOX,
        status=S.SCHEDULED,
        scheduled_start=due,
    )
    later = await make_request(
        s["district"],
        kind=UpdateKind.DATABASE_REFRESH,
        environment=E.STAGING,
        status=S.SCHEDULED,
        scheduled_start=due + timedelta(days=3),
    )
    await Environment.filter(id=update.environment_id).update(running_request_id=update.id, online=False)
    async with api_client() as client:
        waiting = await client.data(READ, {"id": gid(refresh)}, s["tc"])
        not_due = await client.data(READ, {"id": gid(later)}, s["tc"])
        running = await client.data(READ, {"id": gid(update)}, s["tc"])
    assert waiting["updateRequest"]["waitingFor"] == {
        "id": gid(update),
        "kind": "VERSION_UPDATE",
        "status": "IN_PROGRESS",
    }
    assert not_due["updateRequest"]["waitingFor"] is None
    assert running["updateRequest"]["waitingFor"] is None


async def test_waiting_for_names_the_request_itself_while_its_earlier_run_still_holds_the_site(db) -> None:
    """Given up mid-run, put back and scheduled at once: the site stays held by the request's
    earlier job until that job stops, and dispatch waits for it. The request must not look as if
    nothing held it up."""
    s = await setup()
    due = datetime.now(UTC) - timedelta(minutes=1)
    request = await make_request(s["district"], status=S.SCHEDULED, scheduled_start=due)
    await Environment.filter(id=request.environment_id).update(running_request_id=request.id, online=False)
    async with api_client() as client:
        waiting = await client.data(READ, {"id": gid(request)}, s["tc"])
    assert waiting["updateRequest"]["waitingFor"] == {
        "id": gid(request),
        "kind": "VERSION_UPDATE",
        "status": "SCHEDULED",
    }


async def test_staff_list_deleted_requests_with_who_and_when(db) -> None:
    s = await setup()
    request = await make_request(s["district"], status=S.COMPLETED)
    kept = await make_request(s["district"], environment=E.STAGING, status=S.COMPLETED)
    await delete_update_request(await actor_of(s["contact"]), request.id)
    async with api_client() as client:
        staff = await client.data(LIST, {"deleted": True}, s["staff"])
        staff_default = await client.data(LIST, {"deleted": None}, s["staff"])
        district = await client.data(LIST, {"deleted": True}, s["tc"])
    nodes = {edge["node"]["id"]: edge["node"] for edge in staff["updateRequests"]["edges"]}
    assert set(nodes) == {gid(request), gid(kept)}
    assert nodes[gid(request)]["deletedBy"] == {"email": "tc@lakeside.example"}
    assert nodes[gid(request)]["deletedAt"] is not None and nodes[gid(kept)]["deletedAt"] is None
    assert [e["node"]["id"] for e in staff_default["updateRequests"]["edges"]] == [gid(kept)]
    assert [e["node"]["id"] for e in district["updateRequests"]["edges"]] == [gid(kept)]


async def test_staff_open_a_deleted_request_they_listed_and_no_one_else_does(db) -> None:
    """Staff list deleted requests; opening one by its id (or as a node) answered null, as if it
    never was. For everyone else a deleted request stays gone."""
    s = await setup()
    request = await make_request(s["district"], status=S.COMPLETED)
    await delete_update_request(await actor_of(s["contact"]), request.id)
    node = "query($id: ID!) { node(id: $id) { ... on UpdateRequest { id deletedAt canDelete canCancel } } }"
    async with api_client() as client:
        staff = (await client.data(READ, {"id": gid(request)}, s["staff"]))["updateRequest"]
        staff_node = (await client.data(node, {"id": gid(request)}, s["staff"]))["node"]
        contact = (await client.data(READ, {"id": gid(request)}, s["tc"]))["updateRequest"]
        contact_node = (await client.data(node, {"id": gid(request)}, s["tc"]))["node"]
    assert staff is not None and staff["status"] == "COMPLETED" and staff["deletedAt"] is not None
    # Opened, not movable: it is gone from every list but the audit.
    assert staff_node == {
        "id": gid(request),
        "deletedAt": staff["deletedAt"],
        "canDelete": False,
        "canCancel": False,
    }
    assert contact is None and contact_node is None


async def test_a_key_reused_with_different_input_is_refused_on_the_key(db) -> None:
    s = await setup()
    base = {"districtId": gid(s["district"]), "kind": "VERSION_UPDATE", "idempotencyKey": "form-1"}
    async with api_client() as client:
        first = await client.data(
            REQUEST,
            {"input": {**base, "environment": "PRODUCTION", "targetVersion": "Campus.2435.4"}},
            s["tc"],
        )
        again = await client.data(
            REQUEST, {"input": {**base, "environment": "STAGING", "targetVersion": "Campus.2435.4"}}, s["tc"]
        )
    assert first["requestUpdate"]["errors"] == []
    [error] = again["requestUpdate"]["errors"]
    assert (error["code"], error["field"]) == ("IDEMPOTENCY_KEY_REUSED", "idempotencyKey")


async def test_scheduling_without_time_to_finish_is_window_too_short(db) -> None:
    s = await setup()
    request = await make_request(s["district"])
    slot = (await upcoming_slots(s["district"].hosting_model, 2))[1]
    async with api_client() as client:
        body = await client.data(
            SCHEDULE,
            {"id": gid(request), "start": (slot.end - timedelta(minutes=30)).isoformat()},
            s["staff"],
        )
    [error] = body["scheduleUpdateRequest"]["errors"]
    assert (error["code"], error["field"]) == ("WINDOW_TOO_SHORT", "start")


async def test_a_request_update_refusal_never_names_a_field_it_has_not_got(
    db, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 12: a request racing a dispatch got INVALID_TRANSITION on `status`."""
    s = await setup()

    async def racing(*args: object, **kwargs: object) -> UpdateRequest:
        raise invalid_transition("NOT_STARTED", "NEW_VERSION_REQUESTED")

    monkeypatch.setattr(request_resolvers, "request_update", racing)
    async with api_client() as client:
        body = await client.data(
            REQUEST,
            {
                "input": {
                    "districtId": gid(s["district"]),
                    "kind": "VERSION_UPDATE",
                    "environment": "PRODUCTION",
                    "targetVersion": "Campus.2435.4",
                }
            },
            s["tc"],
        )
    [error] = body["requestUpdate"]["errors"]
    assert error["code"] == "INVALID_TRANSITION" and error["field"] is None
