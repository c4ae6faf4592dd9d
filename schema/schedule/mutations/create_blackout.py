"""createBlackout (hosting staff): a period in which no work starts, with its reason."""

from __future__ import annotations

from models.errors import DomainError
from resolvers import schedule
from resolvers.context import Info
from schema.schedule.types import BlackoutInput, BlackoutPayload


async def create_blackout(info: Info, input: BlackoutInput) -> BlackoutPayload:
    try:
        row = await schedule.create_blackout(
            info.context,
            start=input.start,
            end=input.end,
            reason=input.reason,
            hosting_model=input.hosting_model,
            update_group_id=input.update_group_id,
            district_id=input.district_id,
        )
    except DomainError as error:
        return BlackoutPayload.refused(error)
    return BlackoutPayload.ok(row)
