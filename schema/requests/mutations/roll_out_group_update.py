"""rollOutGroupUpdate (hosting staff), deprecated: startGroupRollout with its defaults, answered
with the rollout's requests. The same implementation; kept so that existing clients still work."""

from __future__ import annotations

from typing import cast

import strawberry

from models.errors import DomainError
from models.rollouts.rules import DEFAULT_MAX_FAILURES, DEFAULT_WAVE_SIZE
from resolvers import rollouts
from resolvers.context import Info
from schema.enums import EnvironmentKind
from schema.errors import UserError
from schema.requests.types import UpdateRequestType


@strawberry.type
class RollOutGroupUpdatePayload:
    update_requests: list[UpdateRequestType] = strawberry.field(
        description="The requests created; districts already on or asking for that version, or "
        "missing that environment, are skipped (startGroupRollout lists them with the reason)."
    )
    errors: list[UserError]


async def roll_out_group_update(
    info: Info,
    group_id: strawberry.ID,
    environment: EnvironmentKind,
    target_version: str,
    notes: str | None = None,
) -> RollOutGroupUpdatePayload:
    try:
        rollout = await rollouts.start_group_rollout(
            info.context,
            update_group_id=group_id,
            environment=environment,
            target_version=target_version,
            wave_size=DEFAULT_WAVE_SIZE,
            max_failures=DEFAULT_MAX_FAILURES,
            notes=notes,
        )
    except DomainError as error:
        if error.field == "updateGroupId":
            error.field = "groupId"
        return RollOutGroupUpdatePayload(update_requests=[], errors=[UserError.from_domain(error)])
    rows = await rollouts.update_requests(info.context, rollout)
    return RollOutGroupUpdatePayload(update_requests=cast(list[UpdateRequestType], rows), errors=[])
