"""A small world for domain tests: one district, its people, and helpers that drive a request
through the lifecycle using only the public domain operations (never by writing statuses)."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from models.access import Actor
from models.enums import EnvironmentKind, HostingModel, Role, UpdateKind, UpdateStatus
from models.errors import DomainError
from models.requests.completion import complete, fail
from models.requests.dispatch import dispatch
from models.requests.execution import begin
from models.requests.requesting import request_update
from models.requests.staff import schedule_update_request, set_update_request_status
from models.requests.withdrawing import cancel_update_request
from models.tables import Account, District, Environment, StatusChange, UpdateGroup, UpdateRequest
from tests.factories import actor_of, make_account, make_catalog, make_district

S = UpdateStatus

#: The clock of these tests: Monday 2026-11-02 09:00 CST (the week after the November change).
T0 = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
#: Thursday 2026-11-05 01:00 CST: inside the seeded window (00:30-03:30 = 06:30-09:30 UTC).
IN_WINDOW = datetime(2026, 11, 5, 7, 0, tzinfo=UTC)
#: The same time one week later, for reschedules.
IN_WINDOW_NEXT_WEEK = IN_WINDOW + timedelta(days=7)
#: Thursday 2026-11-05 06:00 CST: outside the window.
OUTSIDE_WINDOW = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)
#: When work runs and finishes in these tests.
RUN_AT = IN_WINDOW + timedelta(minutes=1)
DONE_AT = IN_WINDOW + timedelta(hours=1)
#: The first start clear of work that began at RUN_AT (the expected hour later): a second request
#: on the same site may be scheduled then (the pre-flight refuses an overlapping slot), and waits
#: there if the first overruns. Thursday 02:01 CST, still with an hour of the window left.
AFTER_RUN = RUN_AT + timedelta(hours=1)
#: When an overrunning first request ends.
OVERRUN_DONE = AFTER_RUN + timedelta(minutes=5)


@dataclass
class World:
    district: District
    requester: Account
    staff: Account
    viewer: Account
    requester_actor: Actor
    staff_actor: Actor
    viewer_actor: Actor

    async def request_version(
        self,
        version: str = "Campus.2435.4",
        environment: EnvironmentKind = EnvironmentKind.PRODUCTION,
        actor: Actor | None = None,
        **kwargs: Any,
    ) -> UpdateRequest:
        return await request_update(
            actor or self.requester_actor,
            district_id=self.district.id,
            kind=UpdateKind.VERSION_UPDATE,
            environment=environment,
            target_version=version,
            now=kwargs.pop("now", T0),
            **kwargs,
        )

    async def request_refresh(
        self,
        environment: EnvironmentKind = EnvironmentKind.SANDBOX,
        actor: Actor | None = None,
        **kwargs: Any,
    ) -> UpdateRequest:
        return await request_update(
            actor or self.requester_actor,
            district_id=self.district.id,
            kind=UpdateKind.DATABASE_REFRESH,
            environment=environment,
            now=kwargs.pop("now", T0),
            **kwargs,
        )

    async def schedule(
        self, request_id: int, start: datetime = IN_WINDOW, override: bool = False
    ) -> UpdateRequest:
        return await schedule_update_request(
            self.staff_actor, request_id, start, override_maintenance_window=override, now=T0
        )

    async def set_status(self, request_id: int, status: UpdateStatus, message: str | None = None) -> Any:
        return await set_update_request_status(self.staff_actor, request_id, status, message, now=T0)

    async def cancel(self, request_id: int, actor: Actor | None = None) -> UpdateRequest:
        return await cancel_update_request(actor or self.requester_actor, request_id, now=T0)

    async def drive(self, request_id: int, target: UpdateStatus, *, via_scheduled: bool = False) -> None:
        """Move a TO_BE_SCHEDULED request to `target` through the operations that do it in life."""
        if target is S.TO_BE_SCHEDULED:
            return
        if target in (S.PENDING_INPUT, S.DEFERRED):
            if via_scheduled:
                await self.schedule(request_id)
            await self.set_status(request_id, target, f"Staff moved it to {target.value}.")
            return
        if target is S.CANCELLED:
            await self.cancel(request_id)
            return
        if target is S.NEW_VERSION_REQUESTED:
            request = await UpdateRequest.get(id=request_id)
            await self.request_version(newer_than(request.target_version))
            return
        await self.schedule(request_id)
        if target is S.SCHEDULED:
            return
        assert await dispatch(request_id, now=IN_WINDOW)
        if target is S.NOT_STARTED:
            return
        assert await begin(request_id, now=RUN_AT) is not None
        if target is S.IN_PROGRESS:
            return
        if target is S.COMPLETED:
            await complete(request_id, now=DONE_AT)
            return
        if target is S.UNABLE_TO_COMPLETE:
            await fail(request_id, "The database copy failed.", now=DONE_AT)
            return
        raise AssertionError(f"no path to {target}")


def newer_than(version: str | None) -> str:
    order = ["Campus.2435.2", "Campus.2435.3", "Campus.2435.4", "Campus.2435.9", "Campus.2435.10"]
    return order[order.index(version or "Campus.2435.2") + 1]


async def make_world(
    *,
    hosting_model: HostingModel = HostingModel.CAMPUS_CLOUD,
    environments: tuple[EnvironmentKind, ...] = tuple(EnvironmentKind),
    group: UpdateGroup | None = None,
    requester_role: Role = Role.TECHNICAL_CONTACT,
) -> World:
    district = await make_district(hosting_model=hosting_model, environments=environments, group=group)
    await make_catalog()
    requester = await make_account(requester_role, [district])
    staff = await make_account(Role.HOSTING_STAFF)
    viewer = await make_account(Role.VIEWER, [district])
    return World(
        district,
        requester,
        staff,
        viewer,
        await actor_of(requester),
        await actor_of(staff),
        await actor_of(viewer),
    )


async def history(request_id: int) -> list[tuple[UpdateStatus | None, UpdateStatus, str]]:
    rows = await StatusChange.filter(update_request_id=request_id).order_by("id")
    return [(row.from_status, row.to_status, row.actor) for row in rows]


async def status_of(request_id: int) -> UpdateStatus:
    return (await UpdateRequest.get(id=request_id)).status


async def refused(awaitable: Awaitable[Any]) -> DomainError:
    """The refusal an operation raised (the test fails if it raised none)."""
    with pytest.raises(DomainError) as caught:
        await awaitable
    return caught.value


async def environment(world: World, kind: EnvironmentKind = EnvironmentKind.PRODUCTION) -> Environment:
    """The world's site of that kind, as it is now."""
    return await Environment.get(district_id=world.district.id, kind=kind)
