"""setUpdateRequestStatus (hosting staff): move a request along the lifecycle."""

from __future__ import annotations

import strawberry

from models import operations
from models.errors import DomainError
from resolvers.context import Info
from resolvers.mutation_support import require_id
from schema.enums import UpdateStatus
from schema.payloads import UpdateRequestPayload


async def set_update_request_status(
    info: Info, id: strawberry.ID, status: UpdateStatus, message: str | None = None
) -> UpdateRequestPayload:
    actor = info.context.actor
    try:
        row = await operations.set_update_request_status(
            actor, require_id(id, "UpdateRequest", "update request"), status, message
        )
    except DomainError as error:
        return UpdateRequestPayload.refused(error)
    return UpdateRequestPayload.ok(row)
