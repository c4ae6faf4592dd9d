"""Maintenance windows as stored data: the weekly windows of each hosting model, which hosting
staff create, change and delete, and the slots they give. The arithmetic itself is
`models.windows`, plain functions without a database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

from tortoise.transactions import in_transaction

from models.access import Actor, require_staff
from models.clock import utcnow
from models.enums import ErrorCode, HostingModel, UpdateKind
from models.errors import DomainError, not_found
from models.schedule import is_window_bound
from models.start_lock import hold_for_rule_change
from models.tables import MaintenanceWindow
from models.windows import Slot, WeeklyWindow, next_slots, parse_clock_time

MAINTENANCE_WINDOW = "maintenance window"


@dataclass(frozen=True)
class WindowRule:
    """A checked weekly rule for one hosting model, ready to store."""

    hosting_model: HostingModel
    window: WeeklyWindow

    def columns(self) -> dict[str, Any]:
        # TIMETZ on PostgreSQL wants an offset; the value is wall-clock time in `time_zone`.
        return {
            "hosting_model": self.hosting_model,
            "weekday": self.window.weekday,
            "start_time": self.window.start.replace(tzinfo=UTC),
            "end_time": self.window.end.replace(tzinfo=UTC),
            "time_zone": self.window.time_zone,
        }


def check_rule(
    hosting_model: HostingModel, weekday: int, start_time: str, end_time: str, time_zone: str
) -> WindowRule:
    """Validate a rule as staff type it: weekday 1 (Monday) to 7 (Sunday), 24-hour "HH:MM"
    times, an IANA zone. An end before the start runs past midnight; an equal one is refused
    (a window must have a length). Each refusal is VALIDATION naming the input field."""
    start = parse_clock_time(start_time, "startTime")
    end = parse_clock_time(end_time, "endTime")
    if start == end:
        raise DomainError(
            ErrorCode.VALIDATION,
            "endTime must differ from startTime (an earlier endTime means the window ends after midnight).",
            "endTime",
        )
    return WindowRule(HostingModel(hosting_model), WeeklyWindow(weekday, start, end, time_zone.strip()))


def weekly_window(row: MaintenanceWindow) -> WeeklyWindow:
    # TIMETZ on PostgreSQL comes back with an offset: the window is wall-clock time in its zone.
    return WeeklyWindow(row.weekday, _wall_clock(row.start_time), _wall_clock(row.end_time), row.time_zone)


def _wall_clock(value: time) -> time:
    return value.replace(tzinfo=None)


def same_rule(row: MaintenanceWindow, rule: WindowRule) -> bool:
    return row.hosting_model is rule.hosting_model and weekly_window(row) == rule.window


async def windows_of(hosting_model: HostingModel) -> list[WeeklyWindow]:
    rows = await MaintenanceWindow.filter(hosting_model=hosting_model).order_by("weekday", "start_time")
    return [weekly_window(row) for row in rows]


async def upcoming_slots(hosting_model: HostingModel, count: int, now: datetime | None = None) -> list[Slot]:
    """The next slots of a hosting model's windows; empty when it has none."""
    return next_slots(now or utcnow(), await windows_of(hosting_model), count)


async def district_slots(hosting_model: HostingModel, count: int, now: datetime | None = None) -> list[Slot]:
    """A district's next slots: its hosting model's, when its version updates are bound to windows;
    none otherwise (ASP-hosted work starts when scheduled, whatever windows are stored for it)."""
    if not is_window_bound(UpdateKind.VERSION_UPDATE, hosting_model):
        return []
    return await upcoming_slots(hosting_model, count, now)


async def all_rules() -> list[MaintenanceWindow]:
    """Every stored rule, by hosting model, weekday and start."""
    return list(await MaintenanceWindow.all().order_by("hosting_model", "weekday", "start_time", "id"))


async def _refuse_duplicate(rule: WindowRule, except_id: int | None = None) -> None:
    for row in await MaintenanceWindow.filter(hosting_model=rule.hosting_model, weekday=rule.window.weekday):
        if row.id != except_id and same_rule(row, rule):
            raise DomainError(ErrorCode.VALIDATION, "This maintenance window already exists.", "startTime")


async def create_rule(actor: Actor, rule: WindowRule) -> MaintenanceWindow:
    """Staff: add a weekly window; slots and scheduling follow it at once. Like every change of a
    window, it never moves scheduled work (`scheduleConflicts` lists what now conflicts)."""
    require_staff(actor)
    async with in_transaction():
        await hold_for_rule_change()
        await _refuse_duplicate(rule)
        return await MaintenanceWindow.create(**rule.columns())


async def update_rule(actor: Actor, window_id: int, rule: WindowRule) -> MaintenanceWindow:
    """Staff: change a weekly window in place (its id stays)."""
    require_staff(actor)
    async with in_transaction():
        await hold_for_rule_change()
        row = await MaintenanceWindow.get_or_none(id=window_id)
        if row is None:
            raise not_found(MAINTENANCE_WINDOW)
        await _refuse_duplicate(rule, except_id=row.id)
        row.update_from_dict(rule.columns())
        await row.save()
        return row


async def delete_rule(actor: Actor, window_id: int) -> None:
    """Staff: remove a weekly window. A hosting model left without windows is not bound to any."""
    require_staff(actor)
    async with in_transaction():
        await hold_for_rule_change()
        if await MaintenanceWindow.filter(id=window_id).delete() != 1:
            raise not_found(MAINTENANCE_WINDOW)


async def replace_rules(hosting_model: HostingModel, rules: Sequence[WindowRule]) -> dict[str, int]:
    """Make `rules` the windows of `hosting_model` (the import file): rules already stored stay
    as they are, missing ones are created, others of that model are removed. Counts per outcome;
    a second run with the same rules changes nothing. Run inside the caller's transaction."""
    counts = {"created": 0, "unchanged": 0, "removed": 0}
    existing = list(await MaintenanceWindow.filter(hosting_model=hosting_model).order_by("id"))
    for rule in rules:
        match = next((row for row in existing if same_rule(row, rule)), None)
        if match is not None:
            existing.remove(match)
            counts["unchanged"] += 1
        else:
            await MaintenanceWindow.create(**rule.columns())
            counts["created"] += 1
    for row in existing:
        await row.delete()
        counts["removed"] += 1
    return counts
