"""Maintenance-window arithmetic on `zoneinfo`: weekly local-time windows whose UTC instants move
with daylight saving, and whether work starting at an instant touches a blocked period (a
blackout). Weekdays are ISO numbers everywhere: 1 = Monday ... 7 = Sunday, as the API has them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Protocol, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from models.enums import ErrorCode
from models.errors import DomainError

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

FIRST_WEEKDAY, LAST_WEEKDAY = 1, 7  # ISO: Monday, Sunday

#: How far ahead `next_slots` looks before giving up (a window set that never recurs is empty).
_MAX_LOOKAHEAD_DAYS = 7 * 60
#: Local times are written as 24-hour "HH:MM".
_CLOCK_TIME = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
#: Names the zone database ships that are not zones a person means (system aliases).
_NOT_ZONES = frozenset({"localtime", "posixrules"})


@dataclass(frozen=True)
class WeeklyWindow:
    """Every `weekday` (1 = Monday ... 7 = Sunday) from `start` to `end`, local time in `time_zone`.

    An `end` at or before `start` means the window runs past midnight into the next day.
    """

    weekday: int
    start: time
    end: time
    time_zone: str

    def __post_init__(self) -> None:
        if not FIRST_WEEKDAY <= self.weekday <= LAST_WEEKDAY:
            raise DomainError(ErrorCode.VALIDATION, "weekday must be 1 (Monday) to 7 (Sunday).", "weekday")
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
        """Slots in time order, starting with the one that contains or follows `instant`. A slot
        with no length (a window wholly inside the hour skipped in spring) is no slot at all."""
        local_day = instant.astimezone(self.zone).date() - timedelta(days=1)
        local_day += timedelta(days=(self.weekday - local_day.isoweekday()) % 7)
        while True:
            slot = self.slot_on(local_day)
            if slot.end > instant and slot.end > slot.start:
                yield slot
            local_day += timedelta(days=7)


@dataclass(frozen=True, order=True)
class Slot:
    """One concrete occurrence of a window, as UTC instants; `start` inclusive, `end` exclusive."""

    start: datetime
    end: datetime

    def contains(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


@cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones()) - _NOT_ZONES


def zone_info(name: str) -> ZoneInfo:
    """The zone of an IANA name; VALIDATION (field `timeZone`) for anything else, including names
    that only a case-insensitive file system would find."""
    if name not in _known_zones():
        raise DomainError(ErrorCode.VALIDATION, f"'{name}' is not an IANA time zone.", "timeZone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise DomainError(ErrorCode.VALIDATION, f"'{name}' is not an IANA time zone.", "timeZone") from error


def parse_clock_time(text: str, field: str) -> time:
    """A local time written as 24-hour "HH:MM"; VALIDATION naming `field` otherwise."""
    match = _CLOCK_TIME.fullmatch(text.strip())
    if match is None:
        raise DomainError(
            ErrorCode.VALIDATION, f"{field} must be a 24-hour time like 00:30, not '{text}'.", field
        )
    return time(int(match[1]), int(match[2]))


def clock_text(value: time) -> str:
    return f"{value:%H:%M}"


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
    parts = [f"{WEEKDAY_NAMES[w.weekday - 1]} {w.start:%H:%M}-{w.end:%H:%M} {w.time_zone}" for w in windows]
    return ", ".join(parts) if parts else "no window"


# --------------------------------------------------------------------------- blocked periods


class Period(Protocol):
    """Anything with a UTC `start` (inclusive) and `end` (exclusive): a slot, a blackout."""

    @property
    def start(self) -> datetime: ...

    @property
    def end(self) -> datetime: ...


PeriodT = TypeVar("PeriodT", bound=Period)


def touching(start: datetime, duration: timedelta, periods: Iterable[PeriodT]) -> list[PeriodT]:
    """The periods that work running over [start, start + duration) would touch, in the given
    order. Work of no duration still touches a period it starts inside; work that ends exactly
    when a period begins, or begins exactly when one ends, does not touch it."""
    start = _require_aware(start)
    finish = start + max(duration, timedelta(0))
    return [p for p in periods if p.start <= start < p.end or (start < p.end and p.start < finish)]


def first_start_clear_of(start: datetime, duration: timedelta, periods: Iterable[Period]) -> datetime:
    """The earliest instant at or after `start` from which [t, t + duration) touches no period."""
    candidate = _require_aware(start)
    ordered = sorted(periods, key=lambda p: p.start)
    while blocking := touching(candidate, duration, ordered):
        candidate = max(p.end for p in blocking)  # strictly later: each period ends after candidate
    return candidate
