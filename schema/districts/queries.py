"""The `districts` and `district` queries."""

from __future__ import annotations

from typing import cast

import strawberry

from resolvers import districts
from resolvers.context import Info
from schema.districts.types import DistrictType


@strawberry.type
class DistrictQueries:
    @strawberry.field(description="The districts the caller may see: the district dropdown.")
    async def districts(self, info: Info) -> list[DistrictType]:
        return cast(list[DistrictType], await districts.districts(info.context))

    @strawberry.field
    async def district(self, info: Info, id: strawberry.ID) -> DistrictType | None:
        return cast(DistrictType | None, await districts.district(info.context, id))
