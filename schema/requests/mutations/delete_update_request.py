"""deleteUpdateRequest: hide a completed request from lists (kept for the audit)."""

from __future__ import annotations

import strawberry

from models.errors import DomainError
from resolvers import requests
from resolvers.context import Info
from schema.requests.payloads import DeletePayload


async def delete_update_request(info: Info, id: strawberry.ID) -> DeletePayload:
    try:
        await requests.delete_update_request(info.context, id)
    except DomainError as error:
        return DeletePayload.refused(error)
    return DeletePayload(deleted_id=id, errors=[])
