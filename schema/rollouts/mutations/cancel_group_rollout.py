"""cancelGroupRollout (hosting staff): its requests that have not started are cancelled; running
ones finish."""

from __future__ import annotations

import strawberry

from models.errors import DomainError
from resolvers import rollouts
from resolvers.context import Info
from schema.rollouts.types import GroupRolloutPayload


async def cancel_group_rollout(info: Info, id: strawberry.ID) -> GroupRolloutPayload:
    try:
        row = await rollouts.cancel_group_rollout(info.context, id)
    except DomainError as error:
        return GroupRolloutPayload.refused(error)
    return GroupRolloutPayload.ok(row)
