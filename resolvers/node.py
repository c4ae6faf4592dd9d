"""`node(id)`: any object by its global id, answered exactly like its typed lookup (null when
missing, malformed or outside the caller's districts)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import strawberry
from tortoise.models import Model

from models.tables import Release
from resolvers.access import (
    visible_account,
    visible_district,
    visible_environment,
    visible_group,
    visible_request,
)
from resolvers.context import GraphQLContext
from resolvers.ids import decode_global_id
from resolvers.rollouts import visible_rollout
from resolvers.schedule import visible_blackout, visible_window
from resolvers.webhooks import webhook


async def _release(context: GraphQLContext, pk: int) -> Release | None:
    return await Release.get_or_none(id=pk)


#: Type name in the global id -> how that type is loaded for the caller.
NODE_LOADERS: dict[str, Callable[[GraphQLContext, int], Awaitable[Model | None]]] = {
    "Account": visible_account,
    "Blackout": visible_blackout,
    "District": visible_district,
    "Environment": visible_environment,
    "GroupRollout": visible_rollout,
    "MaintenanceWindow": visible_window,
    "Release": _release,
    "UpdateGroup": visible_group,
    "UpdateRequest": visible_request,
    "Webhook": webhook,
}


async def node(context: GraphQLContext, id: strawberry.ID) -> Model | None:
    context.require_auth()
    decoded = decode_global_id(id)
    if decoded is None or decoded[0] not in NODE_LOADERS:
        return None
    type_name, pk = decoded
    return await NODE_LOADERS[type_name](context, pk)
