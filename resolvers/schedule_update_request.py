"""scheduleUpdateRequest (hosting staff): give a request its start time."""

from __future__ import annotations

from datetime import datetime

import strawberry

from models import operations
from models.errors import DomainError
from resolvers.context import Info
from resolvers.mutation_support import require_id
from schema.payloads import UpdateRequestPayload


async def schedule_update_request(
    info: Info,
    id: strawberry.ID,
    start: datetime,
    override_maintenance_window: bool | None = False,
) -> UpdateRequestPayload:
    actor = info.context.actor
    try:
        row = await operations.schedule_update_request(
            actor,
            require_id(id, "UpdateRequest", "update request"),
            start,
            override_maintenance_window=bool(override_maintenance_window),
        )
    except DomainError as error:
        return UpdateRequestPayload.refused(error)
    return UpdateRequestPayload.ok(row)
