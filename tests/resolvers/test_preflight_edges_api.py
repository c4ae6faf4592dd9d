"""Probes of the pre-flight through GraphQL (SQLite and PostgreSQL): resuming a paused request
into a slot given away meanwhile is refused in the payload's errors, naming `status`, and the same
conflict shows in `scheduleCheck` for its old start. The API runs on the real clock, so the dates
are far ahead."""

from __future__ import annotations

from datetime import UTC, datetime

from models.enums import EnvironmentKind, Role, UpdateKind, UpdateStatus
from models.tables import UpdateRequest
from tests.factories import make_account, make_catalog, make_district, make_request, make_token
from tests.support_graphql import api_client, gid

#: Thursday 2099-01-01 01:00 CST: inside the seeded window.
IN_WINDOW = datetime(2099, 1, 1, 7, 0, tzinfo=UTC)
RESUME = """mutation($id: ID!) { setUpdateRequestStatus(id: $id, status: SCHEDULED) {
  updateRequest { status } errors { code field message } } }"""
CHECK = """query($id: ID!, $s: DateTime!) {
  scheduleCheck(id: $id, start: $s) { conflicts { code conflictingRequest { id } } nextPossibleStart } }"""


async def test_a_resume_into_a_slot_given_away_is_refused_in_the_payload(db):
    await make_catalog()
    district = await make_district()
    deferred = await make_request(district, status=UpdateStatus.DEFERRED, scheduled_start=IN_WINDOW)
    taker = await make_request(
        district,
        kind=UpdateKind.DATABASE_REFRESH,
        environment=EnvironmentKind.SANDBOX,
        status=UpdateStatus.SCHEDULED,
        scheduled_start=IN_WINDOW,
    )
    token = await make_token(await make_account(Role.HOSTING_STAFF))
    async with api_client() as client:
        check = (await client.data(CHECK, {"id": gid(deferred), "s": IN_WINDOW.isoformat()}, token))[
            "scheduleCheck"
        ]
        assert check["conflicts"] == [{"code": "ENVIRONMENT_BUSY", "conflictingRequest": {"id": gid(taker)}}]
        resumed = (await client.data(RESUME, {"id": gid(deferred)}, token))["setUpdateRequestStatus"]
    assert resumed["updateRequest"] is None
    assert [(e["code"], e["field"]) for e in resumed["errors"]] == [("ENVIRONMENT_BUSY", "status")]
    assert "is scheduled for Thursday, January 01, 2099 at 01:00 AM CST" in resumed["errors"][0]["message"]
    assert (await UpdateRequest.get(id=deferred.id)).status is UpdateStatus.DEFERRED
