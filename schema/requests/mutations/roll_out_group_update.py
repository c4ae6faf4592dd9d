"""rollOutGroupUpdate (hosting staff): one version update per district of a state or consortium."""

from __future__ import annotations

from typing import cast

import strawberry

from models.errors import DomainError
from resolvers import requests
from resolvers.context import Info
from schema.enums import EnvironmentKind
from schema.errors import UserError
from schema.requests.types import UpdateRequestType


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
    try:
        rows = await requests.roll_out_group_update(
            info.context, group_id, environment, target_version, notes
        )
    except DomainError as error:
        return RollOutGroupUpdatePayload(update_requests=[], errors=[UserError.from_domain(error)])
    return RollOutGroupUpdatePayload(update_requests=cast(list[UpdateRequestType], rows), errors=[])
