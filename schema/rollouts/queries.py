"""The `groupRollouts` query."""

from __future__ import annotations

from typing import cast

import strawberry

from resolvers import rollouts
from resolvers.context import Info
from schema.rollouts.types import GroupRolloutType


@strawberry.type
class RolloutQueries:
    @strawberry.field(
        description="Group rollouts, newest first: hosting staff see all, state and consortium "
        "contacts those of their groups, everyone else none."
    )
    async def group_rollouts(self, info: Info) -> list[GroupRolloutType]:
        return cast(list[GroupRolloutType], await rollouts.group_rollouts(info.context))
