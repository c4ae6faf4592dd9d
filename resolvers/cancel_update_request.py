"""cancelUpdateRequest: withdraw a request that has not been pulled from the queue."""

from __future__ import annotations

import strawberry

from models import operations
from models.errors import DomainError
from resolvers.context import Info
from resolvers.mutation_support import require_id
from schema.payloads import UpdateRequestPayload


async def cancel_update_request(info: Info, id: strawberry.ID) -> UpdateRequestPayload:
    actor = info.context.actor
    try:
        row = await operations.cancel_update_request(actor, require_id(id, "UpdateRequest", "update request"))
    except DomainError as error:
        return UpdateRequestPayload.refused(error)
    return UpdateRequestPayload.ok(row)
