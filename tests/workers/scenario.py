"""A district with production and sandbox, a requester and staff: the worker tests' starting point."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from models.access import Actor
from models.enums import EnvironmentKind, HostingModel, Role, UpdateKind
from models.requests.requesting import request_update
from models.requests.staff import schedule_update_request
from models.tables import District, UpdateRequest
from tests.factories import actor_of, make_account, make_catalog, make_district

TARGET_VERSION = "Campus.2435.4"


@dataclass
class Scene:
    district: District
    requester: Actor
    staff: Actor
    requester_email: str


async def make_scene(
    environments: tuple[EnvironmentKind, ...] = (EnvironmentKind.PRODUCTION, EnvironmentKind.SANDBOX),
    hosting_model: HostingModel = HostingModel.ASP_HOSTED,
) -> Scene:
    """ASP-hosted by default: not bound to maintenance windows, so the automatic sandbox update
    follows production at once whatever the wall clock of the test run says (a Campus Cloud
    sandbox update waits for the next Thursday window; the domain tests cover that with a clock)."""
    await make_catalog()
    district = await make_district(environments=environments, hosting_model=hosting_model)
    requester = await make_account(Role.TECHNICAL_CONTACT, [district])
    staff = await make_account(Role.HOSTING_STAFF, email="staff@hosting.example")
    return Scene(district, await actor_of(requester), await actor_of(staff), requester.email)


async def request_and_schedule(
    scene: Scene,
    kind: UpdateKind = UpdateKind.VERSION_UPDATE,
    environment: EnvironmentKind = EnvironmentKind.PRODUCTION,
) -> UpdateRequest:
    """Request, then staff schedule it for now (overriding the window): due at once."""
    request = await request_update(
        scene.requester,
        district_id=scene.district.id,
        kind=kind,
        environment=environment,
        target_version=TARGET_VERSION if kind is UpdateKind.VERSION_UPDATE else None,
    )
    return await schedule_update_request(
        scene.staff, request.id, datetime.now(UTC), override_maintenance_window=True
    )
