"""updateMaintenanceWindow (hosting staff): change a weekly window in place."""

from __future__ import annotations

import strawberry

from models.errors import DomainError
from resolvers import schedule
from resolvers.context import Info
from schema.schedule.types import MaintenanceWindowInput, MaintenanceWindowPayload


async def update_maintenance_window(
    info: Info, id: strawberry.ID, input: MaintenanceWindowInput
) -> MaintenanceWindowPayload:
    try:
        row = await schedule.update_window(
            info.context,
            id,
            input.hosting_model,
            input.weekday,
            input.start_time,
            input.end_time,
            input.time_zone,
        )
    except DomainError as error:
        return MaintenanceWindowPayload.refused(error)
    return MaintenanceWindowPayload.ok(row)
