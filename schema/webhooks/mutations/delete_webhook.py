"""deleteWebhook: remove one of the caller's endpoints with its delivery log."""

from __future__ import annotations

import strawberry

from models.errors import DomainError
from resolvers import webhooks
from resolvers.context import Info
from schema.errors import DeletePayload


async def delete_webhook(info: Info, id: strawberry.ID) -> DeletePayload:
    try:
        await webhooks.delete_webhook(info.context, id)
    except DomainError as error:
        return DeletePayload.refused(error)
    return DeletePayload(deleted_id=id, errors=[])
