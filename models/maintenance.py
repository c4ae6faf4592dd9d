"""Maintenance windows as stored data: the weekly windows of a hosting model and the slots they
give. The arithmetic itself is `models.windows`, plain functions without a database."""

from __future__ import annotations

from datetime import datetime

from models.clock import utcnow
from models.enums import HostingModel
from models.tables import MaintenanceWindow
from models.windows import Slot, WeeklyWindow, next_slots


async def windows_of(hosting_model: HostingModel) -> list[WeeklyWindow]:
    rows = await MaintenanceWindow.filter(hosting_model=hosting_model).order_by("weekday", "start_time")
    return [
        # TIMETZ on PostgreSQL comes back with an offset: the window is wall-clock time in its zone.
        WeeklyWindow(
            row.weekday, row.start_time.replace(tzinfo=None), row.end_time.replace(tzinfo=None), row.time_zone
        )
        for row in rows
    ]


async def upcoming_slots(hosting_model: HostingModel, count: int, now: datetime | None = None) -> list[Slot]:
    """The next slots of a hosting model's windows; empty when it has none."""
    return next_slots(now or utcnow(), await windows_of(hosting_model), count)
