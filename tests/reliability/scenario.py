"""Requests for the trials: each on its own one-environment district, so trials never collide."""

from __future__ import annotations

from datetime import UTC, datetime

from models.access import Actor
from models.enums import EnvironmentKind, Role, UpdateKind
from models.requests.requesting import request_update
from models.requests.staff import schedule_update_request
from models.tables import UpdateRequest
from tests.factories import actor_of, make_account, make_catalog, make_district

TARGET_VERSION = "Campus.2435.4"


async def staff_actor() -> Actor:
    await make_catalog()
    return await actor_of(await make_account(Role.HOSTING_STAFF))


async def scheduled_request(staff: Actor) -> UpdateRequest:
    """A version update of a fresh district's production, scheduled for now (due at once)."""
    district = await make_district(environments=[EnvironmentKind.PRODUCTION])
    requester = await actor_of(await make_account(Role.TECHNICAL_CONTACT, [district]))
    request = await request_update(
        requester,
        district_id=district.id,
        kind=UpdateKind.VERSION_UPDATE,
        environment=EnvironmentKind.PRODUCTION,
        target_version=TARGET_VERSION,
    )
    return await schedule_update_request(
        staff, request.id, datetime.now(UTC), override_maintenance_window=True
    )
