"""createMaintenanceWindow (hosting staff): add a weekly window; slots follow at once."""

from __future__ import annotations

from models.errors import DomainError
from resolvers import schedule
from resolvers.context import Info
from schema.schedule.types import MaintenanceWindowInput, MaintenanceWindowPayload


async def create_maintenance_window(info: Info, input: MaintenanceWindowInput) -> MaintenanceWindowPayload:
    try:
        row = await schedule.create_window(
            info.context,
            input.hosting_model,
            input.weekday,
            input.start_time,
            input.end_time,
            input.time_zone,
        )
    except DomainError as error:
        return MaintenanceWindowPayload.refused(error)
    return MaintenanceWindowPayload.ok(row)
