"""startGroupRollout (hosting staff): one version for every district of a group, in waves."""

from __future__ import annotations

from models.errors import DomainError
from models.rollouts.rules import DEFAULT_MAX_FAILURES, DEFAULT_WAVE_SIZE
from resolvers import rollouts
from resolvers.context import Info
from schema.rollouts.types import GroupRolloutInput, GroupRolloutPayload


async def start_group_rollout(info: Info, input: GroupRolloutInput) -> GroupRolloutPayload:
    try:
        row = await rollouts.start_group_rollout(
            info.context,
            update_group_id=input.update_group_id,
            environment=input.environment,
            target_version=input.target_version,
            wave_size=DEFAULT_WAVE_SIZE if input.wave_size is None else input.wave_size,
            max_failures=DEFAULT_MAX_FAILURES if input.max_failures is None else input.max_failures,
            notes=input.notes,
        )
    except DomainError as error:
        return GroupRolloutPayload.refused(error)
    return GroupRolloutPayload.ok(row)
