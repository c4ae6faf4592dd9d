"""The pre-flight through GraphQL (issue 13, phase 2): `scheduleCheck` and `scheduleConflicts`
for hosting staff (FORBIDDEN for everyone else, as a GraphQL error), and `scheduleUpdateRequest`
refusing with every conflict at once in its payload's errors (SQLite and PostgreSQL). The API runs
on the real clock, so the dates are far ahead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from models.enums import EnvironmentKind, HostingModel, Role, UpdateKind, UpdateStatus
from models.tables import Blackout, UpdateRequest
from tests.factories import make_account, make_catalog, make_district, make_request, make_token
from tests.support_graphql import api_client, error_codes, gid

#: Thursday 2099-01-01 00:30 CST, when the seeded window opens (06:30 UTC).
OPENS = datetime(2099, 1, 1, 6, 30, tzinfo=UTC)
CONFLICT = "code message updateRequest { id } conflictingRequest { id } blackout { id reason }"
CHECK = f"""query($id: ID!, $s: DateTime!) {{
  scheduleCheck(id: $id, start: $s) {{ conflicts {{ {CONFLICT} }} nextPossibleStart }} }}"""
CONFLICTS = f"{{ scheduleConflicts {{ {CONFLICT} }} }}"
SCHEDULE = """mutation($id: ID!, $s: DateTime!, $o: Boolean) {
  scheduleUpdateRequest(id: $id, start: $s, overrideMaintenanceWindow: $o) {
    updateRequest { status scheduledStart } errors { code message field } } }"""


async def staff_token() -> str:
    return await make_token(await make_account(Role.HOSTING_STAFF))


async def test_staff_see_every_conflict_of_a_start_and_the_next_possible_one(db):
    await make_catalog()
    district = await make_district()
    update = await make_request(district, environment=EnvironmentKind.STAGING)
    refresh = await make_request(
        district,
        kind=UpdateKind.DATABASE_REFRESH,
        environment=EnvironmentKind.STAGING,
        status=UpdateStatus.SCHEDULED,
        scheduled_start=OPENS,
    )
    # Ends as the refresh begins: a slot a blackout covered would hold nothing (models.requests.busy).
    blackout = await Blackout.create(
        start=OPENS - timedelta(days=1),
        end=OPENS,
        reason="Winter testing",
        district=district,
    )
    token = await staff_token()
    start = OPENS - timedelta(minutes=15)  # 00:15 CST: before the window, in the blackout, over the refresh
    async with api_client() as client:
        check = (await client.data(CHECK, {"id": gid(update), "s": start.isoformat()}, token))[
            "scheduleCheck"
        ]
        assert [c["code"] for c in check["conflicts"]] == [
            "BLACKOUT",
            "OUTSIDE_MAINTENANCE_WINDOW",
            "ENVIRONMENT_BUSY",
        ]
        blacked, outside, busy = check["conflicts"]
        assert blacked["blackout"] == {"id": gid(blackout), "reason": "Winter testing"}
        assert busy["conflictingRequest"] == {"id": gid(refresh)}
        assert {c["updateRequest"]["id"] for c in check["conflicts"]} == {gid(update)}
        assert (outside["blackout"], outside["conflictingRequest"]) == (None, None)
        # Past the blackout and the refresh's hour, with an hour of the window left: 01:30 CST.
        assert datetime.fromisoformat(check["nextPossibleStart"]) == OPENS + timedelta(hours=1)
        assert "The next possible start is Thursday, January 01, 2099 at 01:30 AM CST." in blacked["message"]
        # The mutation refuses with the same conflicts, all of them; the override lifts only the window.
        refused = (await client.data(SCHEDULE, {"id": gid(update), "s": start.isoformat()}, token))[
            "scheduleUpdateRequest"
        ]
        assert refused["updateRequest"] is None
        assert [(e["code"], e["field"]) for e in refused["errors"]] == [
            ("BLACKOUT", "start"),
            ("OUTSIDE_MAINTENANCE_WINDOW", "start"),
            ("ENVIRONMENT_BUSY", "start"),
        ]
        assert [e["message"] for e in refused["errors"]] == [c["message"] for c in check["conflicts"]]
        overridden = await client.data(
            SCHEDULE, {"id": gid(update), "s": start.isoformat(), "o": True}, token
        )
        assert [e["code"] for e in overridden["scheduleUpdateRequest"]["errors"]] == [
            "BLACKOUT",
            "ENVIRONMENT_BUSY",
        ]
        fine = await client.data(SCHEDULE, {"id": gid(update), "s": check["nextPossibleStart"]}, token)
        assert fine["scheduleUpdateRequest"]["errors"] == []
        # A blackout added over the refresh's slot puts it in conflict; nothing moved. (Its slot,
        # which it cannot run in, no longer keeps the update off the site.)
        later = await Blackout.create(
            start=OPENS + timedelta(minutes=15), end=OPENS + timedelta(minutes=45), reason="Fire drill"
        )
        (listed,) = (await client.data(CONFLICTS, token=token))["scheduleConflicts"]
        assert (listed["code"], listed["updateRequest"], listed["blackout"]["id"]) == (
            "BLACKOUT",
            {"id": gid(refresh)},
            gid(later),
        )
    assert (await UpdateRequest.get(id=refresh.id)).scheduled_start == OPENS


async def test_a_blackout_created_through_the_api_shows_in_schedule_conflicts(db):
    await make_catalog()
    district = await make_district(hosting_model=HostingModel.ASP_HOSTED)
    scheduled = await make_request(district, status=UpdateStatus.SCHEDULED, scheduled_start=OPENS)
    token = await staff_token()
    create = (
        """mutation($i: BlackoutInput!) { createBlackout(input: $i) { blackout { id } errors { code } } }"""
    )
    async with api_client() as client:
        assert (await client.data(CONFLICTS, token=token))["scheduleConflicts"] == []
        created = await client.data(
            create,
            {
                "i": {
                    "start": (OPENS - timedelta(days=2)).isoformat(),
                    "end": (OPENS + timedelta(days=2)).isoformat(),
                    "reason": "State testing week",
                    "hostingModel": "ASP_HOSTED",
                }
            },
            token,
        )
        blackout_id = created["createBlackout"]["blackout"]["id"]
        (listed,) = (await client.data(CONFLICTS, token=token))["scheduleConflicts"]
    assert (listed["code"], listed["updateRequest"]["id"], listed["blackout"]["id"]) == (
        "BLACKOUT",
        gid(scheduled),
        blackout_id,
    )
    assert (
        "A blackout (State testing week) covers Thursday, January 01, 2099 at 12:30 AM CST"
        in listed["message"]
    )


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.HOSTING_STAFF])
async def test_only_hosting_staff_may_run_the_pre_flight(db, role):
    district = await make_district()
    request = await make_request(district)
    token = await make_token(await make_account(role, [district]))
    async with api_client() as client:
        for query, variables in ((CHECK, {"id": gid(request), "s": OPENS.isoformat()}), (CONFLICTS, None)):
            body = await client.post(query, variables, token)
            assert body["data"] is None and error_codes(body) == ["FORBIDDEN"], body
        # Staff with an id that is not a request: NOT_FOUND, as a GraphQL error too.
        body = await client.post(CHECK, {"id": gid(district), "s": OPENS.isoformat()}, await staff_token())
        assert error_codes(body) == ["NOT_FOUND"]
