"""A version for every district of a group.
Against a real database, on both backends."""

from __future__ import annotations

from models.enums import (
    EnvironmentKind,
    ErrorCode,
    GroupKind,
    Role,
    UpdateStatus,
)
from models.requests.rollout import roll_out_to_group
from models.tables import UpdateRequest
from tests.factories import actor_of, make_account, make_catalog, make_district, make_group
from tests.models.scenario import (
    T0,
    refused,
)

S = UpdateStatus
E = EnvironmentKind


async def test_staff_roll_out_to_a_group(db):
    group = await make_group(kind=GroupKind.STATE)
    first = await make_district("A district", group=group)
    second = await make_district("B district", group=group)
    await make_district("Outside the group")
    await make_catalog()
    staff = await actor_of(await make_account(Role.HOSTING_STAFF))
    created = await roll_out_to_group(
        staff, group_id=group.id, environment=E.PRODUCTION, target_version="Campus.2435.4", now=T0
    )
    assert sorted(r.district_id for r in created) == [first.id, second.id]
    assert {r.status for r in created} == {S.TO_BE_SCHEDULED}
    # Repeating the rollout skips districts that already have it.
    again = await roll_out_to_group(
        staff, group_id=group.id, environment=E.PRODUCTION, target_version="Campus.2435.4", now=T0
    )
    assert again == []
    assert await UpdateRequest.all().count() == 2


async def test_roll_out_is_staff_only(db):
    group = await make_group()
    district = await make_district(group=group)
    await make_catalog()
    contact = await actor_of(await make_account(Role.STATE_CONTACT, [district]))
    error = await refused(
        roll_out_to_group(
            contact, group_id=group.id, environment=E.PRODUCTION, target_version="Campus.2435.4"
        )
    )
    assert error.code is ErrorCode.FORBIDDEN
