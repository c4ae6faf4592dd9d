"""cancelUpdateRequest: withdraw a request that has not been pulled from the queue."""

from __future__ import annotations

import strawberry

from models.errors import DomainError
from resolvers import requests
from resolvers.context import Info
from schema.requests.payloads import UpdateRequestPayload


async def cancel_update_request(info: Info, id: strawberry.ID) -> UpdateRequestPayload:
    try:
        row = await requests.cancel_update_request(info.context, id)
    except DomainError as error:
        return UpdateRequestPayload.refused(error)
    return UpdateRequestPayload.ok(row)
