"""Ordinary sequences of people and access through the API that the matrix does not walk: a link
gained, lost and regained between requests; a role changed between requests; foreign and
type-confused ids in every status answered exactly like a missing id; deleting in every status;
pages drawn with filters while requests come, go and change status; text at its limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from models.enums import EnvironmentKind, HostingModel, Role, UpdateKind, UpdateStatus
from models.ids import encode_global_id
from models.tables import Account, Environment, UpdateRequest
from tests.factories import make_account, make_catalog, make_district, make_group, make_request, make_token
from tests.support_graphql import GraphQLClient, api_client, gid

S = UpdateStatus
E = EnvironmentKind
T0 = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)

REQUEST = """mutation($input: RequestUpdateInput!) {
  requestUpdate(input: $input) { updateRequest { id status notes } errors { code message field } } }"""
CANCEL = """mutation($id: ID!) {
  cancelUpdateRequest(id: $id) { updateRequest { id status } errors { code message field } } }"""
DELETE = "mutation($id: ID!) { deleteUpdateRequest(id: $id) { deletedId errors { code message field } } }"
FETCH = """query($id: ID!) { updateRequest(id: $id) { id status canCancel canDelete }
  node(id: $id) { id } }"""
LIST = """query($district: ID, $statuses: [UpdateStatus!], $first: Int, $after: String, $deleted: Boolean,
              $hide: Boolean) {
  updateRequests(districtId: $district, statuses: $statuses, first: $first, after: $after,
                 includeDeleted: $deleted, hideCompleted: $hide) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id status deletedAt deletedBy { email } } } } }"""
SET_STATUS = """mutation($id: ID!, $status: UpdateStatus!, $message: String) {
  setUpdateRequestStatus(id: $id, status: $status, message: $message) { errors { code } } }"""


def refresh(district: Any, environment: str = "SANDBOX", **extra: Any) -> dict[str, Any]:
    return {
        "input": {
            "districtId": gid(district),
            "kind": "DATABASE_REFRESH",
            "environment": environment,
            **extra,
        }
    }


async def listed_ids(client: GraphQLClient, token: str, **variables: Any) -> list[str]:
    page = (await client.data(LIST, {"hide": False, **variables}, token))["updateRequests"]
    return [edge["node"]["id"] for edge in page["edges"]]


async def test_a_connected_contact_gaining_losing_and_regaining_a_district(db) -> None:
    """Right after a link is added the district is there on every path; right after it is removed
    it is gone on every path (the replay of a key included); after it is back, so is the request
    the key made, and no second one was created meanwhile."""
    await make_catalog()
    home = await make_district("Home")
    joining = await make_district("Joining")
    contact = await make_account(Role.STATE_CONTACT, [home], email="state@example.gov")
    token = await make_token(contact)
    earlier = await make_request(joining, status=S.SCHEDULED, scheduled_start=T0 + timedelta(days=90))
    gone = await make_request(joining, status=S.COMPLETED, environment=E.STAGING)
    await UpdateRequest.filter(id=gone.id).update(deleted_at=T0)
    async with api_client() as client:
        assert await listed_ids(client, token, district=gid(joining)) == []
        assert (await client.data(FETCH, {"id": gid(earlier)}, token)) == {
            "updateRequest": None,
            "node": None,
        }

        await contact.districts.add(joining)
        names = [d["name"] for d in (await client.data("{ districts { name } }", token=token))["districts"]]
        assert names == ["Home", "Joining"]
        assert await listed_ids(client, token, district=gid(joining)) == [gid(earlier)]
        # Its deleted requests stay out of sight: includeDeleted is for hosting staff only.
        assert await listed_ids(client, token, district=gid(joining), deleted=True) == [gid(earlier)]
        assert (await client.data(FETCH, {"id": gid(gone)}, token)) == {"updateRequest": None, "node": None}
        fetched = await client.data(FETCH, {"id": gid(earlier)}, token)
        assert fetched["updateRequest"]["canCancel"] is True and fetched["node"] == {"id": gid(earlier)}
        made = (await client.data(REQUEST, refresh(joining, idempotencyKey="form-1"), token))["requestUpdate"]
        assert made["errors"] == []
        mine = made["updateRequest"]["id"]

        await contact.districts.remove(joining)
        assert await listed_ids(client, token) == []
        assert await listed_ids(client, token, district=gid(joining)) == []
        assert (await client.data(FETCH, {"id": mine}, token)) == {"updateRequest": None, "node": None}
        district = await client.data(
            "query($id: ID!) { district(id: $id) { id } }", {"id": gid(joining)}, token
        )
        assert district == {"district": None}
        for mutation, key in ((CANCEL, "cancelUpdateRequest"), (DELETE, "deleteUpdateRequest")):
            [error] = (await client.data(mutation, {"id": mine}, token))[key]["errors"]
            assert (error["code"], error["field"]) == ("NOT_FOUND", "id")
        replay = (await client.data(REQUEST, refresh(joining, idempotencyKey="form-1"), token))[
            "requestUpdate"
        ]
        assert replay["updateRequest"] is None
        assert [e["code"] for e in replay["errors"]] == ["NOT_FOUND"]

        await contact.districts.add(joining)
        again = (await client.data(REQUEST, refresh(joining, idempotencyKey="form-1"), token))[
            "requestUpdate"
        ]
        assert again["errors"] == [] and again["updateRequest"]["id"] == mine
        assert set(await listed_ids(client, token)) == {mine, gid(earlier)}
        cancelled = (await client.data(CANCEL, {"id": mine}, token))["cancelUpdateRequest"]
        assert cancelled["errors"] == [] and cancelled["updateRequest"]["status"] == "CANCELLED"
    assert await UpdateRequest.filter(district_id=joining.id).count() == 3


async def test_a_role_changed_between_requests_takes_effect_on_the_next_one(db) -> None:
    """Demoted to VIEWER: reads go on, canCancel turns false, cancel and a key's replay are refused.
    Staff demoted to a district contact: foreign requests and includeDeleted are gone."""
    await make_catalog()
    lakeside = await make_district("Lakeside")
    other = await make_district("Other")
    contact = await make_account(Role.TECHNICAL_CONTACT, [lakeside], email="tc@lakeside.example")
    staff = await make_account(Role.HOSTING_STAFF, [lakeside], email="staff@host.example")
    contact_token, staff_token = await make_token(contact), await make_token(staff)
    foreign = await make_request(other)
    gone = await make_request(
        lakeside, status=S.COMPLETED, kind=UpdateKind.DATABASE_REFRESH, environment=E.STAGING
    )
    await UpdateRequest.filter(id=gone.id).update(deleted_at=T0, deleted_by_id=contact.id)
    async with api_client() as client:
        made = (await client.data(REQUEST, refresh(lakeside, idempotencyKey="k"), contact_token))[
            "requestUpdate"
        ]
        mine = made["updateRequest"]["id"]
        assert (await client.data(FETCH, {"id": mine}, contact_token))["updateRequest"]["canCancel"] is True

        await Account.filter(id=contact.id).update(role=Role.VIEWER)
        seen = (await client.data(FETCH, {"id": mine}, contact_token))["updateRequest"]
        assert seen["status"] == "TO_BE_SCHEDULED" and seen["canCancel"] is False
        [error] = (await client.data(CANCEL, {"id": mine}, contact_token))["cancelUpdateRequest"]["errors"]
        assert error["code"] == "FORBIDDEN"
        replay = (await client.data(REQUEST, refresh(lakeside, idempotencyKey="k"), contact_token))[
            "requestUpdate"
        ]
        assert [e["code"] for e in replay["errors"]] == ["FORBIDDEN"] and replay["updateRequest"] is None

        assert gid(foreign) in await listed_ids(client, staff_token)
        assert gid(gone) in await listed_ids(client, staff_token, deleted=True)
        await Account.filter(id=staff.id).update(role=Role.TECHNICAL_CONTACT)
        assert (await client.data(FETCH, {"id": gid(foreign)}, staff_token))["updateRequest"] is None
        assert gid(foreign) not in await listed_ids(client, staff_token)
        assert gid(gone) not in await listed_ids(client, staff_token, deleted=True)
        refused = (await client.data(CANCEL, {"id": gid(foreign)}, staff_token))["cancelUpdateRequest"]
        assert [e["code"] for e in refused["errors"]] == ["NOT_FOUND"]
    assert (await UpdateRequest.get(id=foreign.id)).status is S.TO_BE_SCHEDULED


@pytest.mark.parametrize("status", list(UpdateStatus), ids=lambda s: s.value)
async def test_a_foreign_request_in_any_status_is_answered_exactly_like_a_missing_id(db, status) -> None:
    """Cancel, delete and fetch of another district's request (automatic, part of a rollout, in
    any status) give the very answer a never-used id gives: no status, no FORBIDDEN, no hint."""
    await make_catalog()
    mine = await make_district("Mine")
    theirs = await make_district("Theirs", group=await make_group())
    contact = await make_account(Role.STATE_CONTACT, [mine])
    token = await make_token(contact)
    request = await make_request(theirs, status=status)
    await UpdateRequest.filter(id=request.id).update(automatic=True)
    missing = encode_global_id("UpdateRequest", request.id + 1000)
    async with api_client() as client:
        for mutation, key in ((CANCEL, "cancelUpdateRequest"), (DELETE, "deleteUpdateRequest")):
            foreign = (await client.data(mutation, {"id": gid(request)}, token))[key]
            nobody = (await client.data(mutation, {"id": missing}, token))[key]
            assert foreign == nobody and foreign["errors"][0]["code"] == "NOT_FOUND", (foreign, nobody)
        assert await client.data(FETCH, {"id": gid(request)}, token) == {"updateRequest": None, "node": None}
        # A version update of a foreign group-managed district is not GROUP_MANAGED: not found.
        version = {
            "districtId": gid(theirs),
            "kind": "VERSION_UPDATE",
            "environment": "PRODUCTION",
            "targetVersion": "Campus.2435.4",
        }
        [error] = (await client.data(REQUEST, {"input": version}, token))["requestUpdate"]["errors"]
        assert (error["code"], error["field"]) == ("NOT_FOUND", "districtId")
    stored = await UpdateRequest.get(id=request.id)
    assert stored.status is status and stored.deleted_at is None


async def test_an_id_of_another_type_never_reaches_the_row_sharing_its_number(db) -> None:
    """Ids carry their type: a District id whose number is a visible completed request's number
    deletes nothing; an UpdateRequest id numbered like a visible district finds no district."""
    await make_catalog()
    district = await make_district("Lakeside", hosting_model=HostingModel.ASP_HOSTED)
    contact = await make_account(Role.TECHNICAL_CONTACT, [district])
    token = await make_token(contact)
    done = await make_request(district, status=S.COMPLETED)
    waiting = await make_request(district, kind=UpdateKind.DATABASE_REFRESH, environment=E.SANDBOX)
    async with api_client() as client:
        for type_name in ("District", "Environment", "Account", "Release", "UpdateGroup"):
            as_other = encode_global_id(type_name, done.id)
            [error] = (await client.data(DELETE, {"id": as_other}, token))["deleteUpdateRequest"]["errors"]
            assert error["code"] == "NOT_FOUND", type_name
            as_other = encode_global_id(type_name, waiting.id)
            [error] = (await client.data(CANCEL, {"id": as_other}, token))["cancelUpdateRequest"]["errors"]
            assert error["code"] == "NOT_FOUND", type_name
            fetched = await client.data(
                "query($id: ID!) { updateRequest(id: $id) { id } }",
                {"id": encode_global_id(type_name, done.id)},
                token,
            )
            assert fetched == {"updateRequest": None}, type_name
        as_request = encode_global_id("UpdateRequest", district.id)
        assert await client.data(
            "query($id: ID!) { district(id: $id) { id } }", {"id": as_request}, token
        ) == {"district": None}
        assert await listed_ids(client, token, district=as_request) == []
        asked = refresh(district)
        asked["input"]["districtId"] = encode_global_id("Environment", district.id)
        [error] = (await client.data(REQUEST, asked, token))["requestUpdate"]["errors"]
        assert (error["code"], error["field"]) == ("NOT_FOUND", "districtId")
    assert (await UpdateRequest.get(id=done.id)).deleted_at is None
    assert (await UpdateRequest.get(id=waiting.id)).status is S.TO_BE_SCHEDULED
    assert await UpdateRequest.all().count() == 2


@pytest.mark.parametrize("status", list(UpdateStatus), ids=lambda s: s.value)
async def test_delete_in_each_status_only_completed_and_recorded(db, status) -> None:
    """canDelete says what deleteUpdateRequest does, in every status; a delete records who and
    when, staff list it, the district and a second delete no longer find it."""
    await make_catalog()
    district = await make_district("Lakeside")
    contact = await make_account(Role.TECHNICAL_CONTACT, [district], email="tc@lakeside.example")
    viewer = await make_account(Role.VIEWER, [district])
    staff = await make_account(Role.HOSTING_STAFF, email="staff@host.example")
    token, viewer_token, staff_token = (
        await make_token(contact),
        await make_token(viewer),
        await make_token(staff),
    )
    request = await make_request(district, status=status, requested_by=contact)
    async with api_client() as client:
        shown = (await client.data(FETCH, {"id": gid(request)}, token))["updateRequest"]
        assert shown["canDelete"] is (status is S.COMPLETED)
        assert (await client.data(FETCH, {"id": gid(request)}, viewer_token))["updateRequest"][
            "canDelete"
        ] is False
        [error] = (await client.data(DELETE, {"id": gid(request)}, viewer_token))["deleteUpdateRequest"][
            "errors"
        ]
        assert error["code"] == "FORBIDDEN"
        before = datetime.now(UTC)
        deleted = (await client.data(DELETE, {"id": gid(request)}, token))["deleteUpdateRequest"]
        if status is not S.COMPLETED:
            [error] = deleted["errors"]
            assert (error["code"], error["field"]) == ("INVALID_TRANSITION", "id") and deleted[
                "deletedId"
            ] is None
            assert status.value in error["message"]
            assert (await UpdateRequest.get(id=request.id)).deleted_at is None
            return
        assert deleted == {"deletedId": gid(request), "errors": []}
        stored = await UpdateRequest.get(id=request.id)
        assert (
            stored.deleted_by_id == contact.id
            and stored.deleted_at is not None
            and stored.deleted_at >= before
        )
        staff_list = (await client.data(LIST, {"deleted": True, "hide": False}, staff_token))[
            "updateRequests"
        ]
        [node] = [edge["node"] for edge in staff_list["edges"]]
        assert node["id"] == gid(request) and node["deletedBy"] == {"email": "tc@lakeside.example"}
        assert datetime.fromisoformat(node["deletedAt"]) == stored.deleted_at
        assert await listed_ids(client, token, deleted=True) == []
        assert await listed_ids(client, staff_token) == []
        # Staff who saved "Hide Complete" still find deleted requests when they ask for them.
        await client.data(
            "mutation { setPreferences(hideCompleted: true) { hideCompleted } }", token=staff_token
        )
        hiding = (await client.data(LIST, {"deleted": True}, staff_token))["updateRequests"]
        assert [edge["node"]["id"] for edge in hiding["edges"]] == [gid(request)] and hiding[
            "totalCount"
        ] == 1
        assert (await client.data(FETCH, {"id": gid(request)}, token))["updateRequest"] is None
        [error] = (await client.data(DELETE, {"id": gid(request)}, token))["deleteUpdateRequest"]["errors"]
        assert error["code"] == "NOT_FOUND"
        assert (await UpdateRequest.get(id=request.id)).deleted_by_id == contact.id  # not re-recorded


async def test_filtered_pages_while_requests_come_go_and_change_status(db) -> None:
    """Walking a filtered list page by page while, between pages, the cursor's own row is
    cancelled, a newer request arrives, an unseen row leaves the filter and a seen one changes:
    no row twice, no row skipped that was in the filter throughout, nothing newer than the walk."""
    await make_catalog()
    district = await make_district("Lakeside")
    contact = await make_account(Role.TECHNICAL_CONTACT, [district])
    staff = await make_account(Role.HOSTING_STAFF)
    token, staff_token = await make_token(contact), await make_token(staff)
    rows = []
    for i in range(8):
        # Pairs share their created_at: the id breaks the tie on every page boundary.
        rows.append(
            await make_request(
                district,
                kind=UpdateKind.DATABASE_REFRESH,
                environment=E.SANDBOX,
                status=S.TO_BE_SCHEDULED if i % 3 else S.COMPLETED,
                created_at=T0 + timedelta(minutes=i // 2),
            )
        )
    newest_first = sorted(rows, key=lambda r: (r.created_at, r.id), reverse=True)
    in_filter = [r for r in newest_first if r.status is S.TO_BE_SCHEDULED]
    statuses = ["TO_BE_SCHEDULED", "DEFERRED"]
    async with api_client() as client:
        seen: list[str] = []
        after = None
        turn = 0
        while True:
            page = (
                await client.data(
                    LIST, {"statuses": statuses, "first": 2, "after": after, "hide": False}, token
                )
            )["updateRequests"]
            ids = [edge["node"]["id"] for edge in page["edges"]]
            seen += ids
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
            turn += 1
            if turn == 1:
                cancelled = (await client.data(CANCEL, {"id": ids[-1]}, token))["cancelUpdateRequest"]
                assert cancelled["errors"] == []
                made = (await client.data(REQUEST, refresh(district, "STAGING"), token))["requestUpdate"]
                assert made["errors"] == []
                newcomer = made["updateRequest"]["id"]
                # An unseen row leaves the filter (PENDING_INPUT is not asked for)...
                leaving = in_filter[-1]
                moved = await client.data(
                    SET_STATUS,
                    {"id": gid(leaving), "status": "PENDING_INPUT", "message": "Which day?"},
                    staff_token,
                )
                assert moved["setUpdateRequestStatus"]["errors"] == []
                # ...and a seen one moves to another status the filter asks for.
                moved = await client.data(
                    SET_STATUS, {"id": ids[0], "status": "DEFERRED", "message": "Not this week."}, staff_token
                )
                assert moved["setUpdateRequestStatus"]["errors"] == []
    assert len(seen) == len(set(seen)), seen
    assert newcomer not in seen and gid(leaving) not in seen
    assert seen == [gid(r) for r in in_filter if r is not leaving]


@pytest.mark.parametrize(
    "notes",
    [
        "Bitte nach 18 Uhr — 请在周末更新 — تحديث بعد الظهر — 🧑🏽‍💻🏫",
        "e\u0301cole\u200d\u00a0Z\u0308",
        "🏫" * 4000,
        "x" * 3999 + "é",
    ],
    ids=["scripts-and-emoji", "combining-and-joiners", "4000-astral", "4000-exactly"],
)
async def test_notes_keep_every_character_up_to_their_limit(db, notes: str) -> None:
    await make_catalog()
    district = await make_district("Lakeside")
    token = await make_token(await make_account(Role.TECHNICAL_CONTACT, [district]))
    async with api_client() as client:
        made = (
            await client.data(
                REQUEST, refresh(district, notes=notes, idempotencyKey="ключ-" + "🔑" * 195), token
            )
        )["requestUpdate"]
        assert made["errors"] == [] and made["updateRequest"]["notes"] == notes
        again = (await client.data(REQUEST, refresh(district, idempotencyKey="ключ-" + "🔑" * 195), token))[
            "requestUpdate"
        ]
        assert again["updateRequest"]["id"] == made["updateRequest"]["id"]
        read = await client.data(
            "query($id: ID!) { updateRequest(id: $id) { notes } }", {"id": made["updateRequest"]["id"]}, token
        )
    assert read["updateRequest"]["notes"] == notes
    assert (await UpdateRequest.get()).notes == notes


async def test_padding_does_not_count_against_the_limit_it_is_not_kept(db) -> None:
    """Notes are stored trimmed, so the limit is on what is stored: 4,000 characters pasted with a
    trailing newline used to be refused as longer than 4,000."""
    await make_catalog()
    district = await make_district("Lakeside")
    token = await make_token(await make_account(Role.TECHNICAL_CONTACT, [district]))
    async with api_client() as client:
        made = (await client.data(REQUEST, refresh(district, notes="  " + "x" * 4000 + "\n"), token))[
            "requestUpdate"
        ]
    assert made["errors"] == [] and made["updateRequest"]["notes"] == "x" * 4000


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"notes": "🏫" * 4001}, "notes"),
        ({"notes": "  " + "x" * 4001 + "  "}, "notes"),
        ({"idempotencyKey": "🔑" * 201}, "idempotencyKey"),
    ],
    ids=["4001-astral-notes", "padded-notes-over-the-limit", "201-char-key"],
)
async def test_text_over_its_limit_is_validation_naming_the_field(db, fields, field) -> None:
    await make_catalog()
    district = await make_district("Lakeside")
    token = await make_token(await make_account(Role.TECHNICAL_CONTACT, [district]))
    async with api_client() as client:
        payload = (await client.data(REQUEST, refresh(district, **fields), token))["requestUpdate"]
    assert payload["updateRequest"] is None
    [error] = payload["errors"]
    assert (error["code"], error["field"]) == ("VALIDATION", field)
    assert field in error["message"] and error["message"].endswith(".")
    assert await UpdateRequest.all().count() == 0


async def test_an_environment_the_district_gains_can_be_asked_for_with_the_refused_key(db) -> None:
    """ENVIRONMENT_UNAVAILABLE names the field and claims no key; once staff add the environment,
    the same submission (same key) creates the request; for a foreign district it is NOT_FOUND."""
    await make_catalog()
    asp = await make_district(
        "Hosted", hosting_model=HostingModel.ASP_HOSTED, environments=[E.PRODUCTION, E.SANDBOX]
    )
    foreign = await make_district(
        "Foreign", hosting_model=HostingModel.ASP_HOSTED, environments=[E.PRODUCTION]
    )
    contact = await make_account(Role.PARTNER, [asp])
    token = await make_token(contact)
    preview = {
        "districtId": gid(asp),
        "kind": "VERSION_UPDATE",
        "environment": "PREVIEW",
        "targetVersion": "Campus.2435.4",
        "idempotencyKey": "p-1",
    }
    async with api_client() as client:
        for asked in (refresh(asp, "STAGING", idempotencyKey="s-1"), {"input": preview}):
            [error] = (await client.data(REQUEST, asked, token))["requestUpdate"]["errors"]
            assert (error["code"], error["field"]) == ("ENVIRONMENT_UNAVAILABLE", "environment")
        [error] = (await client.data(REQUEST, refresh(foreign, "STAGING"), token))["requestUpdate"]["errors"]
        assert (error["code"], error["field"]) == ("NOT_FOUND", "districtId")
        assert await UpdateRequest.all().count() == 0

        await Environment.create(district=asp, kind=E.STAGING, current_version="Campus.2435.2")
        made = (await client.data(REQUEST, refresh(asp, "STAGING", idempotencyKey="s-1"), token))[
            "requestUpdate"
        ]
        assert made["errors"] == [] and made["updateRequest"]["status"] == "TO_BE_SCHEDULED"
        kinds = await client.data(
            "query($id: ID!) { district(id: $id) { environments { kind } } }", {"id": gid(asp)}, token
        )
        assert [e["kind"] for e in kinds["district"]["environments"]] == ["PRODUCTION", "SANDBOX", "STAGING"]
    assert await UpdateRequest.filter(idempotency_key="s-1").count() == 1


STAFF_MOVE = """mutation($id: ID!, $message: String) {
  setUpdateRequestStatus(id: $id, status: DEFERRED, message: $message) {
    updateRequest { status statusMessage history { message } } errors { code field message } } }"""


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ("Wir warten auf Ihre Freigabe — 请确认 — 🏫\nDanke.", None),
        ("🏫" * 4000, None),
        ("🏫" * 4001, "message"),
        ("  \n\t ", "message"),  # a move that needs a message gets none from blanks
    ],
    ids=["scripts-and-a-line-break", "4000-astral", "4001-astral", "blank"],
)
async def test_a_staff_message_reaches_the_district_whole_or_is_refused_on_its_field(
    db, message, field
) -> None:
    await make_catalog()
    district = await make_district("Lakeside")
    contact = await make_account(Role.TECHNICAL_CONTACT, [district])
    token, staff = await make_token(contact), await make_token(await make_account(Role.HOSTING_STAFF))
    request = await make_request(district, requested_by=contact)
    async with api_client() as client:
        payload = (await client.data(STAFF_MOVE, {"id": gid(request), "message": message}, staff))[
            "setUpdateRequestStatus"
        ]
        seen = (
            await client.data(
                "query($id: ID!) { updateRequest(id: $id) { status statusMessage } }",
                {"id": gid(request)},
                token,
            )
        )["updateRequest"]
    if field is None:
        assert payload["errors"] == []
        assert payload["updateRequest"]["history"][-1]["message"] == message.strip()
        assert seen == {"status": "DEFERRED", "statusMessage": message.strip()}
        return
    [error] = payload["errors"]
    assert (error["code"], error["field"]) == ("VALIDATION", field) and payload["updateRequest"] is None
    assert seen == {"status": "TO_BE_SCHEDULED", "statusMessage": None}


async def test_an_account_switched_off_between_pages_and_back_on_resumes_its_walk(db) -> None:
    """Deactivated between two pages: the next page, a mutation and the key's replay are all
    UNAUTHENTICATED and change nothing; switched on again, the same cursor goes on where it was
    and the key replays the request it made."""
    await make_catalog()
    district = await make_district("Lakeside")
    contact = await make_account(Role.TECHNICAL_CONTACT, [district])
    token = await make_token(contact)
    rows = [await make_request(district, created_at=T0 + timedelta(minutes=i)) for i in range(3)]
    async with api_client() as client:
        made = (await client.data(REQUEST, refresh(district, idempotencyKey="k"), token))["requestUpdate"]
        first = (await client.data(LIST, {"first": 2, "hide": False}, token))["updateRequests"]
        assert [e["node"]["id"] for e in first["edges"]] == [made["updateRequest"]["id"], gid(rows[2])]

        await Account.filter(id=contact.id).update(active=False)
        after = first["pageInfo"]["endCursor"]
        for query, variables in (
            (LIST, {"first": 2, "after": after}),
            (REQUEST, refresh(district, idempotencyKey="k")),
            (CANCEL, {"id": gid(rows[0])}),
        ):
            body = await client.post(query, variables, token)
            assert body["data"] is None and [e["extensions"]["code"] for e in body["errors"]] == [
                "UNAUTHENTICATED"
            ]

        await Account.filter(id=contact.id).update(active=True)
        rest = (await client.data(LIST, {"first": 2, "after": after, "hide": False}, token))["updateRequests"]
        assert [e["node"]["id"] for e in rest["edges"]] == [gid(rows[1]), gid(rows[0])]
        assert rest["pageInfo"]["hasNextPage"] is False
        again = (await client.data(REQUEST, refresh(district, idempotencyKey="k"), token))["requestUpdate"]
        assert again["updateRequest"]["id"] == made["updateRequest"]["id"]
    assert (await UpdateRequest.get(id=rows[0].id)).status is S.TO_BE_SCHEDULED
    assert await UpdateRequest.all().count() == 4


AUTHOR = """query($id: ID!, $author: ID!) {
  updateRequest(id: $id) { requestedBy { email districts { name } } history { by { districts { name } } } }
  node(id: $author) { ... on Account { districts { name } } } }"""


async def test_an_author_linked_to_other_districts_shows_only_the_callers_ones(db) -> None:
    """A state contact linked to two districts asks for work in one of them. That district's
    technical contact sees who asked, as the author and in the history, and of the author's
    districts only its own: on the nested paths as on `node`."""
    await make_catalog()
    lakeside, riverside = await make_district("Lakeside"), await make_district("Riverside")
    author = await make_account(Role.STATE_CONTACT, [lakeside, riverside], email="sc@state.example")
    contact = await make_token(await make_account(Role.TECHNICAL_CONTACT, [lakeside]))
    async with api_client() as client:
        made = (await client.data(REQUEST, refresh(lakeside), await make_token(author)))["requestUpdate"]
        seen = await client.data(AUTHOR, {"id": made["updateRequest"]["id"], "author": gid(author)}, contact)
    own = [{"name": "Lakeside"}]
    assert seen == {
        "updateRequest": {
            "requestedBy": {"email": "sc@state.example", "districts": own},
            "history": [{"by": {"districts": own}}],
        },
        "node": {"districts": own},
    }
