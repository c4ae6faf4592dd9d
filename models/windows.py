"""Maintenance-window arithmetic on `zoneinfo`: weekly local-time windows whose UTC instants move
with daylight saving."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from models.enums import ErrorCode
from models.errors import DomainError

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

#: How far ahead `next_slots` looks before giving up (a window set that never recurs is empty).
_MAX_LOOKAHEAD_DAYS = 7 * 60


@dataclass(frozen=True)
class WeeklyWindow:
    """Every `weekday` (0 = Monday) from `start` to `end`, local time in `time_zone`.

    An `end` at or before `start` means the window runs past midnight into the next day.
    """

    weekday: int
    start: time
    end: time
    time_zone: str

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise DomainError(ErrorCode.VALIDATION, "weekday must be 0 (Monday) to 6 (Sunday).", "weekday")
        zone_info(self.time_zone)

    @property
    def zone(self) -> ZoneInfo:
        return zone_info(self.time_zone)

    def slot_on(self, local_day: date) -> Slot:
        """The slot that starts on `local_day` (which must be this window's weekday)."""
        start = _local_to_utc(datetime.combine(local_day, self.start), self.zone)
        end_day = local_day if self.end > self.start else local_day + timedelta(days=1)
        end = _local_to_utc(datetime.combine(end_day, self.end), self.zone)
        return Slot(start, end)

    def slots_from(self, instant: datetime) -> Iterator[Slot]:
        """Slots in time order, starting with the one that contains or follows `instant`."""
        local_day = instant.astimezone(self.zone).date() - timedelta(days=1)
        local_day += timedelta(days=(self.weekday - local_day.weekday()) % 7)
        while True:
            slot = self.slot_on(local_day)
            if slot.end > instant:
                yield slot
            local_day += timedelta(days=7)


@dataclass(frozen=True, order=True)
class Slot:
    """One concrete occurrence of a window, as UTC instants; `start` inclusive, `end` exclusive."""

    start: datetime
    end: datetime

    def contains(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


def zone_info(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise DomainError(ErrorCode.VALIDATION, f"'{name}' is not an IANA time zone.", "timeZone") from error


def _local_to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    """Attach `zone` to a wall-clock time and convert to UTC.

    A wall time skipped by a spring-forward change is moved forward by the gap (as clocks do);
    an ambiguous one in the autumn takes its first occurrence (fold=0).
    """
    # fold=0 does both (PEP 495): in a gap it applies the offset from before the change, which
    # lands after the gap; in a repeated hour it picks the first occurrence. (fold=1 would move a
    # skipped time backwards, opening a window before its wall-clock start.)
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _require_aware(instant: datetime) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise DomainError(ErrorCode.VALIDATION, "Times must carry a UTC offset.", "start")
    return instant.astimezone(UTC)


def is_inside_windows(instant: datetime, windows: Iterable[WeeklyWindow]) -> bool:
    """Whether `instant` falls inside any occurrence of any of `windows`."""
    instant = _require_aware(instant)
    for window in windows:
        first = next(window.slots_from(instant))
        if first.contains(instant):
            return True
    return False


def next_slots(now: datetime, windows: Iterable[WeeklyWindow], count: int) -> list[Slot]:
    """The next `count` slots of `windows` that have not ended at `now`, in time order.

    A slot in progress at `now` is included. Overlapping slots of different windows are merged.
    """
    now = _require_aware(now)
    generators = [window.slots_from(now) for window in windows]
    if count <= 0 or not generators:
        return []
    horizon = now + timedelta(days=_MAX_LOOKAHEAD_DAYS)
    heads: list[tuple[Slot, int]] = [(next(gen), index) for index, gen in enumerate(generators)]
    result: list[Slot] = []
    while heads:
        heads.sort()
        slot, index = heads[0]
        if slot.start > horizon:
            break
        if result and slot.start <= result[-1].end:
            last = result[-1]
            result[-1] = Slot(last.start, max(last.end, slot.end))
        elif len(result) < count:
            result.append(slot)
        else:  # the last slot is complete: nothing further overlaps it
            break
        heads[0] = (next(generators[index]), index)
    return result


def describe_windows(windows: Iterable[WeeklyWindow]) -> str:
    """A sentence for error messages, e.g. 'Thursday 00:30-03:30 America/Chicago'."""
    parts = [f"{WEEKDAY_NAMES[w.weekday]} {w.start:%H:%M}-{w.end:%H:%M} {w.time_zone}" for w in windows]
    return ", ".join(parts) if parts else "no window"
