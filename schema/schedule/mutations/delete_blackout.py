"""deleteBlackout (hosting staff): lift a blackout."""

from __future__ import annotations

import strawberry

from models.errors import DomainError
from resolvers import schedule
from resolvers.context import Info
from schema.errors import DeletePayload


async def delete_blackout(info: Info, id: strawberry.ID) -> DeletePayload:
    try:
        await schedule.delete_blackout(info.context, id)
    except DomainError as error:
        return DeletePayload.refused(error)
    return DeletePayload(deleted_id=id, errors=[])
