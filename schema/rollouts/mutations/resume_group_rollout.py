"""resumeGroupRollout (hosting staff): a paused or halted rollout runs again."""

from __future__ import annotations

import strawberry

from models.errors import DomainError
from resolvers import rollouts
from resolvers.context import Info
from schema.rollouts.types import GroupRolloutPayload


async def resume_group_rollout(info: Info, id: strawberry.ID) -> GroupRolloutPayload:
    try:
        row = await rollouts.resume_group_rollout(info.context, id)
    except DomainError as error:
        return GroupRolloutPayload.refused(error)
    return GroupRolloutPayload.ok(row)
