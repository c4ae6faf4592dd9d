"""rollOutGroupUpdate (hosting staff): one version update per district of a state or consortium."""

from __future__ import annotations

import strawberry

from models import operations
from models.errors import DomainError
from resolvers.context import Info
from resolvers.mutation_support import require_id
from schema.enums import EnvironmentKind
from schema.errors import UserError
from schema.requests import UpdateRequestType


@strawberry.type
class RollOutGroupUpdatePayload:
    update_requests: list[UpdateRequestType] = strawberry.field(
        description="The requests created; districts already on or asking for that version are skipped."
    )
    errors: list[UserError]


async def roll_out_group_update(
    info: Info,
    group_id: strawberry.ID,
    environment: EnvironmentKind,
    target_version: str,
    notes: str | None = None,
) -> RollOutGroupUpdatePayload:
    actor = info.context.actor
    try:
        rows = await operations.roll_out_to_group(
            actor,
            group_id=require_id(group_id, "UpdateGroup", "update group", "groupId"),
            environment=environment,
            target_version=target_version,
            notes=notes,
        )
    except DomainError as error:
        return RollOutGroupUpdatePayload(update_requests=[], errors=[UserError.from_domain(error)])
    return RollOutGroupUpdatePayload(update_requests=[UpdateRequestType.from_row(r) for r in rows], errors=[])
