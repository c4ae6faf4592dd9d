"""The `releases` and `maintenanceWindows` queries."""

from __future__ import annotations

from typing import cast

import strawberry

from resolvers import catalog
from resolvers.context import Info
from schema.catalog.types import MaintenanceSlot, ReleaseType


@strawberry.type
class CatalogQueries:
    @strawberry.field(description="The release catalog, newest version first.")
    async def releases(self, info: Info) -> list[ReleaseType]:
        return cast(list[ReleaseType], await catalog.releases(info.context))

    @strawberry.field(
        description="The district's next maintenance slots; empty when it is not bound to windows."
    )
    async def maintenance_windows(
        self, info: Info, district_id: strawberry.ID, first: int | None = 4
    ) -> list[MaintenanceSlot]:
        return cast(list[MaintenanceSlot], await catalog.maintenance_slots(info.context, district_id, first))
