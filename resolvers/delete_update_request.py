"""deleteUpdateRequest: hide a completed request from lists (kept for the audit)."""

from __future__ import annotations

import strawberry

from models import operations
from models.errors import DomainError
from resolvers.context import Info
from resolvers.mutation_support import require_id
from schema.errors import UserError
from schema.payloads import DeletePayload


async def delete_update_request(info: Info, id: strawberry.ID) -> DeletePayload:
    actor = info.context.actor
    try:
        await operations.delete_update_request(actor, require_id(id, "UpdateRequest", "update request"))
    except DomainError as error:
        return DeletePayload(deleted_id=None, errors=[UserError.from_domain(error)])
    return DeletePayload(deleted_id=id, errors=[])
