"""Every mutation through the API, and every error code a client can meet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from models.enums import EnvironmentKind, HostingModel, Role, UpdateKind, UpdateStatus
from models.maintenance import upcoming_slots
from models.tables import ApiToken, UpdateRequest
from models.tokens import hash_token, revoke_token
from resolvers.ids import encode_global_id
from tests.factories import make_account, make_catalog, make_district, make_group, make_request, make_token
from tests.support_graphql import api_client, error_codes, gid

REQUEST = """
mutation($input: RequestUpdateInput!) {
  requestUpdate(input: $input) {
    updateRequest { id kind status targetVersion notes preferredStart requestedBy { email }
                    supersededBy { id } environment { kind } canCancel canDelete }
    errors { code message field }
  }
}"""
CANCEL = """mutation($id: ID!) {
  cancelUpdateRequest(id: $id) { updateRequest { id status canCancel } errors { code message field } } }"""
DELETE = "mutation($id: ID!) { deleteUpdateRequest(id: $id) { deletedId errors { code message field } } }"
SCHEDULE = """mutation($id: ID!, $start: DateTime!, $override: Boolean) {
  scheduleUpdateRequest(id: $id, start: $start, overrideMaintenanceWindow: $override) {
    updateRequest { id status scheduledStart windowOverride
                    history { from to message windowOverride by { email } } }
    errors { code message field } } }"""
SET_STATUS = """mutation($id: ID!, $status: UpdateStatus!, $message: String) {
  setUpdateRequestStatus(id: $id, status: $status, message: $message) {
    updateRequest { id status statusMessage } errors { code message field } } }"""


async def setup() -> dict:
    await make_catalog()
    district = await make_district("Lakeside")
    contact = await make_account(Role.TECHNICAL_CONTACT, [district], email="tc@lakeside.example")
    staff = await make_account(Role.HOSTING_STAFF, email="staff@host.example")
    viewer = await make_account(Role.VIEWER, [district], email="viewer@lakeside.example")
    return {
        "district": district,
        "contact": contact,
        "tc": await make_token(contact),
        "staff": await make_token(staff),
        "viewer": await make_token(viewer),
    }


def version_input(district, target: str = "Campus.2435.4", **extra) -> dict:
    return {
        "districtId": gid(district),
        "kind": "VERSION_UPDATE",
        "environment": "PRODUCTION",
        "targetVersion": target,
        **extra,
    }


async def test_request_supersede_cancel_and_idempotency(db) -> None:
    s = await setup()
    async with api_client() as client:
        first = await client.data(
            REQUEST, {"input": version_input(s["district"], notes="Please", idempotencyKey="k1")}, s["tc"]
        )
        payload = first["requestUpdate"]
        assert payload["errors"] == []
        older = payload["updateRequest"]
        assert older["status"] == "TO_BE_SCHEDULED" and older["requestedBy"]["email"] == "tc@lakeside.example"
        assert older["canCancel"] and not older["canDelete"] and older["notes"] == "Please"

        again = await client.data(
            REQUEST, {"input": version_input(s["district"], idempotencyKey="k1")}, s["tc"]
        )
        assert again["requestUpdate"]["updateRequest"]["id"] == older["id"]

        newer = await client.data(REQUEST, {"input": version_input(s["district"], "Campus.2435.10")}, s["tc"])
        newer_id = newer["requestUpdate"]["updateRequest"]["id"]
        seen = await client.data(
            "query($id: ID!) { updateRequest(id: $id) { status supersededBy { id targetVersion } } }",
            {"id": older["id"]},
            s["tc"],
        )
        assert seen["updateRequest"] == {
            "status": "NEW_VERSION_REQUESTED",
            "supersededBy": {"id": newer_id, "targetVersion": "Campus.2435.10"},
        }

        cancelled = (await client.data(CANCEL, {"id": newer_id}, s["tc"]))["cancelUpdateRequest"]
        assert cancelled["errors"] == [] and cancelled["updateRequest"]["status"] == "CANCELLED"
        listed = await client.data("{ updateRequests { totalCount edges { node { id } } } }", token=s["tc"])
        assert newer_id not in [e["node"]["id"] for e in listed["updateRequests"]["edges"]]


async def test_delete_completed_request(db) -> None:
    s = await setup()
    done = await make_request(s["district"], status=UpdateStatus.COMPLETED)
    async with api_client() as client:
        deleted = (await client.data(DELETE, {"id": gid(done)}, s["tc"]))["deleteUpdateRequest"]
        assert deleted == {"deletedId": gid(done), "errors": []}
        assert (
            await client.data("query($id: ID!) { updateRequest(id: $id) { id } }", {"id": gid(done)}, s["tc"])
        )["updateRequest"] is None
        again = (await client.data(DELETE, {"id": gid(done)}, s["tc"]))["deleteUpdateRequest"]
        assert again["errors"][0]["code"] == "NOT_FOUND"


async def test_set_preferences_drives_list_default(db) -> None:
    s = await setup()
    await make_request(s["district"], status=UpdateStatus.COMPLETED)
    await make_request(s["district"], kind=UpdateKind.DATABASE_REFRESH, environment=EnvironmentKind.SANDBOX)
    count = "{ viewer { preferences { hideCompleted } } updateRequests { totalCount } }"
    async with api_client() as client:
        before = await client.data(count, token=s["tc"])
        assert before == {
            "viewer": {"preferences": {"hideCompleted": False}},
            "updateRequests": {"totalCount": 2},
        }
        saved = await client.data(
            "mutation { setPreferences(hideCompleted: true) { hideCompleted } }", token=s["tc"]
        )
        assert saved == {"setPreferences": {"hideCompleted": True}}
        after = await client.data(count, token=s["tc"])
        assert after == {
            "viewer": {"preferences": {"hideCompleted": True}},
            "updateRequests": {"totalCount": 1},
        }
        explicit = await client.data("{ updateRequests(hideCompleted: false) { totalCount } }", token=s["tc"])
        assert explicit["updateRequests"]["totalCount"] == 2


async def test_staff_schedule_inside_window_and_override_outside(db) -> None:
    s = await setup()
    request = await make_request(s["district"])
    other = await make_request(s["district"], environment=EnvironmentKind.STAGING)
    slot = (await upcoming_slots(s["district"].hosting_model, 2))[1]
    async with api_client() as client:
        inside = await client.data(
            SCHEDULE, {"id": gid(request), "start": slot.start.isoformat()}, s["staff"]
        )
        payload = inside["scheduleUpdateRequest"]
        assert payload["errors"] == []
        assert payload["updateRequest"]["status"] == "SCHEDULED"
        assert datetime.fromisoformat(payload["updateRequest"]["scheduledStart"]) == slot.start
        outside_start = (slot.start + timedelta(hours=6)).isoformat()
        refused = await client.data(SCHEDULE, {"id": gid(other), "start": outside_start}, s["staff"])
        error = refused["scheduleUpdateRequest"]["errors"][0]
        assert error["code"] == "OUTSIDE_MAINTENANCE_WINDOW" and error["field"] == "start"
        forced = (
            await client.data(
                SCHEDULE, {"id": gid(other), "start": outside_start, "override": True}, s["staff"]
            )
        )["scheduleUpdateRequest"]
        assert forced["errors"] == [] and forced["updateRequest"]["windowOverride"] is True
        last = forced["updateRequest"]["history"][-1]
        assert last["windowOverride"] is True and last["by"] == {"email": "staff@host.example"}


async def test_staff_set_status_and_group_rollout(db) -> None:
    s = await setup()
    request = await make_request(s["district"])
    group = await make_group("North State")
    await make_district("North A", group=group)
    await make_district("North B", group=group)
    async with api_client() as client:
        moved = await client.data(
            SET_STATUS,
            {"id": gid(request), "status": "PENDING_INPUT", "message": "Which weekend?"},
            s["staff"],
        )
        assert moved["setUpdateRequestStatus"] == {
            "updateRequest": {
                "id": gid(request),
                "status": "PENDING_INPUT",
                "statusMessage": "Which weekend?",
            },
            "errors": [],
        }
        rollout = await client.data(
            """mutation($g: ID!) { rollOutGroupUpdate(groupId: $g, environment: PRODUCTION,
                 targetVersion: "Campus.2435.4") {
                 updateRequests { district { name } } errors { code } } }""",
            {"g": gid(group)},
            s["staff"],
        )
        names = sorted(r["district"]["name"] for r in rollout["rollOutGroupUpdate"]["updateRequests"])
        assert names == ["North A", "North B"]


@pytest.mark.parametrize(
    ("case", "code", "field"),
    [
        ("viewer writes", "FORBIDDEN", None),
        ("unknown district", "NOT_FOUND", "districtId"),
        ("malformed district id", "NOT_FOUND", "districtId"),
        ("sandbox version update", "VALIDATION", None),
        ("group managed", "GROUP_MANAGED", None),
        ("missing environment", "ENVIRONMENT_UNAVAILABLE", None),
        ("refresh without production", "ENVIRONMENT_UNAVAILABLE", "environment"),
        ("not newer", "VERSION_NOT_NEWER", "targetVersion"),
        ("unknown version", "UNKNOWN_VERSION", "targetVersion"),
        ("duplicate refresh", "DUPLICATE_REQUEST", None),
        ("notes too long", "VALIDATION", "notes"),
    ],
)
async def test_request_update_refusals(db, case: str, code: str, field: str | None) -> None:
    s = await setup()
    district, token = s["district"], s["tc"]
    value = version_input(district)
    if case == "viewer writes":
        token = s["viewer"]
    elif case == "unknown district":
        value["districtId"] = encode_global_id("District", 999_999)
    elif case == "malformed district id":
        value["districtId"] = "not-an-id"
    elif case == "sandbox version update":
        value["environment"] = "SANDBOX"
    elif case == "group managed":
        grouped = await make_district(group=await make_group())
        await s["contact"].districts.add(grouped)
        value["districtId"] = gid(grouped)
    elif case == "missing environment":
        asp = await make_district(
            hosting_model=HostingModel.ASP_HOSTED,
            environments=[EnvironmentKind.PRODUCTION, EnvironmentKind.SANDBOX],
        )
        await s["contact"].districts.add(asp)
        value = {"districtId": gid(asp), "kind": "DATABASE_REFRESH", "environment": "STAGING"}
    elif case == "refresh without production":
        # An import may leave a district without production; there is nothing to copy then.
        copies_only = await make_district(environments=[EnvironmentKind.SANDBOX, EnvironmentKind.STAGING])
        await s["contact"].districts.add(copies_only)
        value = {"districtId": gid(copies_only), "kind": "DATABASE_REFRESH", "environment": "SANDBOX"}
    elif case == "not newer":
        value["targetVersion"] = "Campus.2435.2"
    elif case == "unknown version":
        value["targetVersion"] = "Campus.2999.1"
    elif case == "duplicate refresh":
        value = {"districtId": gid(district), "kind": "DATABASE_REFRESH", "environment": "SANDBOX"}
        async with api_client() as client:
            assert (await client.data(REQUEST, {"input": value}, token))["requestUpdate"]["errors"] == []
    elif case == "notes too long":
        value["notes"] = "x" * 5000
    async with api_client() as client:
        payload = (await client.data(REQUEST, {"input": value}, token))["requestUpdate"]
    assert payload["updateRequest"] is None
    [error] = payload["errors"]
    assert error["code"] == code, error
    assert error["message"] and error["message"][-1] in ".?!", "a sentence a person can act on"
    if field is not None:
        assert error["field"] == field


async def test_lifecycle_refusals(db) -> None:
    s = await setup()
    waiting = await make_request(s["district"])
    running = await make_request(
        s["district"], environment=EnvironmentKind.STAGING, status=UpdateStatus.IN_PROGRESS
    )
    async with api_client() as client:
        delete_open = (await client.data(DELETE, {"id": gid(waiting)}, s["tc"]))["deleteUpdateRequest"]
        assert delete_open["errors"][0]["code"] == "INVALID_TRANSITION"
        cancel_running = (await client.data(CANCEL, {"id": gid(running)}, s["tc"]))["cancelUpdateRequest"]
        assert cancel_running["errors"][0]["code"] == "INVALID_TRANSITION"
        staff_only = (
            await client.data(SET_STATUS, {"id": gid(waiting), "status": "DEFERRED", "message": "x"}, s["tc"])
        )["setUpdateRequestStatus"]
        assert staff_only["errors"][0]["code"] == "FORBIDDEN"
        bad_move = (await client.data(SET_STATUS, {"id": gid(waiting), "status": "COMPLETED"}, s["staff"]))[
            "setUpdateRequestStatus"
        ]
        assert bad_move["errors"][0]["code"] == "INVALID_TRANSITION"
        past = (datetime.now(UTC) - timedelta(days=3)).isoformat()
        in_past = await client.data(SCHEDULE, {"id": gid(waiting), "start": past}, s["staff"])
        assert in_past["scheduleUpdateRequest"]["errors"][0]["code"] == "VALIDATION"
        unknown = await client.data(CANCEL, {"id": "VXBkYXRlUmVxdWVzdDo5OTk5OTk="}, s["tc"])
        assert unknown["cancelUpdateRequest"]["errors"][0] == {
            "code": "NOT_FOUND",
            "message": "No update request with that id.",
            "field": "id",
        }
        wrong_type = await client.data(CANCEL, {"id": gid(s["district"])}, s["tc"])
        assert wrong_type["cancelUpdateRequest"]["errors"][0]["code"] == "NOT_FOUND"


async def test_datetime_input_needs_an_offset(db) -> None:
    s = await setup()
    waiting = await make_request(s["district"])
    async with api_client() as client:
        body = await client.post(SCHEDULE, {"id": gid(waiting), "start": "2030-01-03T01:00:00"}, s["staff"])
    assert body["errors"] and "UTC offset" in body["errors"][0]["message"]


async def test_unauthenticated_missing_expired_revoked(db) -> None:
    s = await setup()
    expired = await make_token(s["contact"], expires_in=timedelta(seconds=-1))
    revoked = await make_token(s["contact"])
    await revoke_token(revoked)
    async with api_client() as client:
        for token in (None, "ud_nonsense", expired, revoked):
            for query in (
                "{ viewer { account { email } } }",
                "mutation { setPreferences(hideCompleted: true) { hideCompleted } }",
            ):
                body = await client.post(query, token=token)
                assert body["data"] is None and error_codes(body) == ["UNAUTHENTICATED"], (token, body)
    assert await ApiToken.filter(token_hash=hash_token(revoked)).exists()
    assert not await UpdateRequest.exists()
