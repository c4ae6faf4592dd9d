"""Maintenance window rules and blackouts: reading them (any signed-in caller; blackouts only over
the caller's districts) and the hosting staff's changes to them."""

from __future__ import annotations

from datetime import datetime

import strawberry

from models import blackouts, maintenance
from models.access import require_staff
from models.blackouts import BlackoutScope
from models.enums import ErrorCode, HostingModel
from models.tables import Blackout, MaintenanceWindow
from resolvers.context import GraphQLContext
from resolvers.errors import PublicError
from resolvers.ids import require_id


async def window_rules(context: GraphQLContext) -> list[MaintenanceWindow]:
    context.require_auth()
    return await maintenance.all_rules()


async def visible_window(context: GraphQLContext, pk: int | None) -> MaintenanceWindow | None:
    """Window rules are public to every signed-in caller (they say when their work may run)."""
    context.require_auth()
    return None if pk is None else await MaintenanceWindow.get_or_none(id=pk)


async def create_window(
    context: GraphQLContext,
    hosting_model: HostingModel,
    weekday: int,
    start_time: str,
    end_time: str,
    time_zone: str,
) -> MaintenanceWindow:
    require_staff(context.actor)  # refuse outsiders before judging their input
    rule = maintenance.check_rule(hosting_model, weekday, start_time, end_time, time_zone)
    return await maintenance.create_rule(context.actor, rule)


async def update_window(
    context: GraphQLContext,
    id: strawberry.ID,
    hosting_model: HostingModel,
    weekday: int,
    start_time: str,
    end_time: str,
    time_zone: str,
) -> MaintenanceWindow:
    require_staff(context.actor)
    pk = require_id(id, "MaintenanceWindow", maintenance.MAINTENANCE_WINDOW)
    rule = maintenance.check_rule(hosting_model, weekday, start_time, end_time, time_zone)
    return await maintenance.update_rule(context.actor, pk, rule)


async def delete_window(context: GraphQLContext, id: strawberry.ID) -> None:
    require_staff(context.actor)
    pk = require_id(id, "MaintenanceWindow", maintenance.MAINTENANCE_WINDOW)
    await maintenance.delete_rule(context.actor, pk)


async def blackouts_between(
    context: GraphQLContext, start: datetime | None, end: datetime | None
) -> list[Blackout]:
    """The blackouts over the caller's districts (all for staff) overlapping [from, to)."""
    actor = context.actor
    if start is not None and end is not None and end <= start:
        raise PublicError(ErrorCode.VALIDATION, "'to' must be after 'from'.", "to")
    return list(await blackouts.overlapping(await blackouts.visible_blackouts(actor), start, end))


async def visible_blackout(context: GraphQLContext, pk: int | None) -> Blackout | None:
    if pk is None:
        return None
    return await (await blackouts.visible_blackouts(context.actor)).filter(id=pk).first()


async def create_blackout(
    context: GraphQLContext,
    *,
    start: datetime,
    end: datetime,
    reason: str,
    hosting_model: HostingModel | None,
    update_group_id: strawberry.ID | None,
    district_id: strawberry.ID | None,
) -> Blackout:
    require_staff(context.actor)
    blackouts.check_one_scope(hosting_model, update_group_id, district_id)
    scope = BlackoutScope(
        hosting_model=hosting_model,
        update_group_id=None
        if update_group_id is None
        else require_id(update_group_id, "UpdateGroup", "update group", "updateGroupId"),
        district_id=None
        if district_id is None
        else require_id(district_id, "District", "district", "districtId"),
    )
    return await blackouts.create_blackout(context.actor, start=start, end=end, reason=reason, scope=scope)


async def delete_blackout(context: GraphQLContext, id: strawberry.ID) -> None:
    require_staff(context.actor)
    await blackouts.delete_blackout(context.actor, require_id(id, "Blackout", "blackout"))
