"""The `maintenanceWindowRules` and `blackouts` queries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, cast

import strawberry

from resolvers import schedule
from resolvers.context import Info
from schema.schedule.types import BlackoutType, MaintenanceWindowType


@strawberry.type
class ScheduleQueries:
    @strawberry.field(
        description="Every weekly maintenance window rule, by hosting model, weekday and start."
    )
    async def maintenance_window_rules(self, info: Info) -> list[MaintenanceWindowType]:
        return cast(list[MaintenanceWindowType], await schedule.window_rules(info.context))

    @strawberry.field(
        description="Blackouts covering the caller's districts (all for hosting staff) that overlap "
        "[from, to), soonest first; either bound may be left out."
    )
    async def blackouts(
        self,
        info: Info,
        from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        to: datetime | None = None,
    ) -> list[BlackoutType]:
        return cast(list[BlackoutType], await schedule.blackouts_between(info.context, from_, to))
