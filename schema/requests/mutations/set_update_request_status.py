"""setUpdateRequestStatus (hosting staff): move a request along the lifecycle."""

from __future__ import annotations

import strawberry

from models.errors import DomainError
from resolvers import requests
from resolvers.context import Info
from schema.enums import UpdateStatus
from schema.requests.payloads import UpdateRequestPayload


async def set_update_request_status(
    info: Info, id: strawberry.ID, status: UpdateStatus, message: str | None = None
) -> UpdateRequestPayload:
    try:
        row = await requests.set_update_request_status(info.context, id, status, message)
    except DomainError as error:
        return UpdateRequestPayload.refused(error)
    return UpdateRequestPayload.ok(row)
