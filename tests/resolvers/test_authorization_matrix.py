"""Roles x own / connected / foreign district x every field that takes an id.

Every access outside the caller's districts must look exactly like a missing object; every access
inside them must work. One seeded world per role; all mismatches are reported together.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from models.enums import REQUESTER_ROLES, EnvironmentKind, Role, UpdateStatus
from models.tables import Environment, UpdateRequest
from tests.support_graphql import (
    DistrictFixture,
    GraphQLClient,
    World,
    api_client,
    error_codes,
    gid,
    seed_world,
)

RELATIONS = ("own", "connected", "foreign")


def may_see(role: Role, relation: str) -> bool:
    return role is Role.HOSTING_STAFF or relation != "foreign"


async def read_checks(
    client: GraphQLClient, token: str, world: World, fixture: DistrictFixture
) -> dict[str, bool]:
    """For each id-taking read: True when the object came back, False when it looked missing."""
    district_id = gid(fixture.district)
    environment = await Environment.get(district_id=fixture.district.id, kind=EnvironmentKind.PRODUCTION)
    ids = {
        "district": district_id,
        "environment": gid(environment),
        "request": gid(fixture.to_cancel),
        "group": gid(fixture.group),
        "account": gid(fixture.member),
    }
    query = """
    query Reads($district: ID!, $environment: ID!, $request: ID!, $group: ID!, $account: ID!, $own: ID!) {
      district(id: $district) { id updateRequests { totalCount } }
      districtNode: node(id: $district) { id }
      environmentNode: node(id: $environment) { id }
      requestNode: node(id: $request) { id }
      groupNode: node(id: $group) { id }
      accountNode: node(id: $account) { id }
      updateRequest(id: $request) { id }
      updateRequests(districtId: $district) { totalCount edges { node { id } } }
      ownDistrict: district(id: $own) { id }
    }
    """
    data = await client.data(query, {**ids, "own": gid(world.own.district)}, token)
    assert data["ownDistrict"] is not None, "aliases: the caller's own district must stay visible"
    results = {
        "district": data["district"] is not None,
        "District.updateRequests": bool(
            data["district"] and data["district"]["updateRequests"]["totalCount"]
        ),
        "node(District)": data["districtNode"] is not None,
        "node(Environment)": data["environmentNode"] is not None,
        "node(UpdateRequest)": data["requestNode"] is not None,
        "node(UpdateGroup)": data["groupNode"] is not None,
        "node(Account)": data["accountNode"] is not None,
        "updateRequest": data["updateRequest"] is not None,
        "updateRequests(districtId)": data["updateRequests"]["totalCount"] > 0
        and len(data["updateRequests"]["edges"]) > 0,
    }
    windows = await client.post(
        "query($d: ID!) { maintenanceWindows(districtId: $d) { start } }", {"d": district_id}, token
    )
    if "errors" in windows:
        assert error_codes(windows) == ["NOT_FOUND"], windows
        results["maintenanceWindows"] = False
    else:
        results["maintenanceWindows"] = len(windows["data"]["maintenanceWindows"]) == 4
    return results


MUTATIONS: dict[str, tuple[str, str]] = {
    "requestUpdate": (
        """mutation($id: ID!) { m: requestUpdate(input: {districtId: $id, kind: DATABASE_REFRESH,
             environment: STAGING}) { updateRequest { id } errors { code } } }""",
        "district",
    ),
    "cancelUpdateRequest": (
        "mutation($id: ID!) { m: cancelUpdateRequest(id: $id) { updateRequest { id } errors { code } } }",
        "to_cancel",
    ),
    "deleteUpdateRequest": (
        "mutation($id: ID!) { m: deleteUpdateRequest(id: $id) { deletedId errors { code } } }",
        "to_delete",
    ),
    "scheduleUpdateRequest": (
        """mutation($id: ID!, $start: DateTime!) { m: scheduleUpdateRequest(id: $id, start: $start) {
             updateRequest { id } errors { code } } }""",
        "to_schedule",
    ),
    "setUpdateRequestStatus": (
        """mutation($id: ID!) { m: setUpdateRequestStatus(id: $id, status: PENDING_INPUT,
             message: "Which weekend suits you?") { updateRequest { id } errors { code } } }""",
        "to_set_status",
    ),
    "rollOutGroupUpdate": (
        """mutation($id: ID!) { m: rollOutGroupUpdate(groupId: $id, environment: STAGING,
             targetVersion: "Campus.2435.4") { updateRequests { id } errors { code } } }""",
        "group",
    ),
    "startGroupRollout": (
        """mutation($id: ID!) { m: startGroupRollout(input: {updateGroupId: $id, environment: STAGING,
             targetVersion: "Campus.2435.4"}) { rollout { id } errors { code } } }""",
        "group",
    ),
}
STAFF_ONLY = {"scheduleUpdateRequest", "setUpdateRequestStatus", "rollOutGroupUpdate", "startGroupRollout"}


def expected_mutation_code(role: Role, relation: str, mutation: str) -> str | None:
    """None when the mutation must succeed, else the one code that must refuse it."""
    if role is Role.HOSTING_STAFF:
        return None
    if mutation in STAFF_ONLY or role not in REQUESTER_ROLES:
        return "FORBIDDEN"
    return None if relation != "foreign" else "NOT_FOUND"


async def mutation_code(
    client: GraphQLClient, token: str, fixture: DistrictFixture, mutation: str
) -> str | None:
    query, target = MUTATIONS[mutation]
    variables: dict[str, Any] = {"id": gid(getattr(fixture, target))}
    if mutation == "scheduleUpdateRequest":
        variables["start"] = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    payload = (await client.data(query, variables, token))["m"]
    codes = [error["code"] for error in payload["errors"]]
    if not codes:
        assert any(payload.get(key) for key in ("updateRequest", "deletedId", "updateRequests", "rollout")), (
            payload
        )
        return None
    assert len(codes) == 1, payload
    return codes[0]


@pytest.mark.parametrize("role", list(Role), ids=lambda role: role.value)
async def test_every_id_taking_field_respects_districts(db, role: Role) -> None:
    world = await seed_world()
    token = world.tokens[role]
    mismatches: list[str] = []
    async with api_client() as client:
        for relation in RELATIONS:
            fixture = world.relation(relation)
            for field, visible in (await read_checks(client, token, world, fixture)).items():
                if visible != may_see(role, relation):
                    mismatches.append(f"{field} on {relation}: visible={visible}")
            for mutation in MUTATIONS:
                got = await mutation_code(client, token, fixture, mutation)
                wanted = expected_mutation_code(role, relation, mutation)
                if got != wanted:
                    mismatches.append(f"{mutation} on {relation}: got {got}, wanted {wanted}")
        # Refused mutations changed nothing.
        if role is not Role.HOSTING_STAFF:
            foreign = world.foreign
            statuses = dict(
                await UpdateRequest.filter(district_id=foreign.district.id).values_list("id", "status")
            )
            assert statuses[foreign.to_cancel.id] is UpdateStatus.TO_BE_SCHEDULED
            assert statuses[foreign.to_schedule.id] is UpdateStatus.DEFERRED
            assert len(statuses) == 4, "no request was created in the foreign district"
    assert not mismatches, f"{role.value}: " + "; ".join(mismatches)


async def test_district_list_is_the_dropdown(db) -> None:
    world = await seed_world()
    async with api_client() as client:
        for role, token in world.tokens.items():
            names = [
                d["name"] for d in (await client.data("{ districts { name } }", token=token))["districts"]
            ]
            if role is Role.HOSTING_STAFF:
                assert {"own district", "connected district", "foreign district"} <= set(names)
            else:
                assert names == ["connected district", "own district"], (role, names)
