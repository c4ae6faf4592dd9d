"""deleteMaintenanceWindow (hosting staff): remove a weekly window."""

from __future__ import annotations

import strawberry

from models.errors import DomainError
from resolvers import schedule
from resolvers.context import Info
from schema.errors import DeletePayload


async def delete_maintenance_window(info: Info, id: strawberry.ID) -> DeletePayload:
    try:
        await schedule.delete_window(info.context, id)
    except DomainError as error:
        return DeletePayload.refused(error)
    return DeletePayload(deleted_id=id, errors=[])
