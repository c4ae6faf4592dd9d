"""scheduleUpdateRequest (hosting staff): give a request its start time."""

from __future__ import annotations

from datetime import datetime

import strawberry

from models.errors import DomainError
from resolvers import requests
from resolvers.context import Info
from schema.requests.payloads import UpdateRequestPayload


async def schedule_update_request(
    info: Info, id: strawberry.ID, start: datetime, override_maintenance_window: bool | None = False
) -> UpdateRequestPayload:
    try:
        row = await requests.schedule_update_request(
            info.context, id, start, bool(override_maintenance_window)
        )
    except DomainError as error:
        return UpdateRequestPayload.refused(error)
    return UpdateRequestPayload.ok(row)
