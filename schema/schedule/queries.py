"""The `maintenanceWindowRules` and `blackouts` queries, and the staff's pre-flight
(`scheduleCheck`, `scheduleConflicts`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, cast

import strawberry

from resolvers import preflight, schedule
from resolvers.context import Info
from schema.schedule.preflight import ScheduleCheck, ScheduleConflict
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

    @strawberry.field(
        description="Hosting staff only: every conflict of starting the request at `start` (window, "
        "blackout, another request on the same site), and the next start that has none."
    )
    async def schedule_check(self, info: Info, id: strawberry.ID, start: datetime) -> ScheduleCheck:
        return cast(ScheduleCheck, await preflight.schedule_check(info.context, id, start))

    @strawberry.field(
        description="Hosting staff only: the scheduled requests whose start now conflicts (after a "
        "change of windows, blackouts or other schedules), each conflict with its code and message. "
        "Nothing is moved until the request is due."
    )
    async def schedule_conflicts(self, info: Info) -> list[ScheduleConflict]:
        return cast(list[ScheduleConflict], await preflight.schedule_conflicts(info.context))
