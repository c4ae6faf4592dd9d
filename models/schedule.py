"""When work may start: the one place that answers "can this work start at T?" and "when is the
next start at or after T where it can?".

Window-bound work (a version update of a Campus Cloud district, the automatic sandbox update
included) starts only inside a maintenance window, and only if its expected duration fits before
that window ends. Staff scheduling (refusing with OUTSIDE_MAINTENANCE_WINDOW / WINDOW_TOO_SHORT),
the dispatcher and the worker's begin (re-slotting work that can no longer start in time), and the
automatic sandbox update (first slot that fits) all ask `start_conflict` and `next_start` here.
Everything a start is judged by comes in as data (`StartRules`), so further rules (blackouts) are
added here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from models.enums import ErrorCode, HostingModel, UpdateKind
from models.running import DEFAULT_EXPECTED_MINUTES
from models.windows import Slot, WeeklyWindow, describe_windows, next_slots

#: Merged window slots fetched at a time while searching for a start (a year of weekly windows).
_SLOTS_PER_SEARCH = 60


@dataclass(frozen=True)
class StartRules:
    """What a start of one request is judged by.

    `windows` empty: the request is not bound to maintenance windows (ASP-hosted districts,
    database refreshes, or no window defined at all). `expected`: how long the work is expected to
    take; a window-bound start must leave that much of its window.
    """

    windows: tuple[WeeklyWindow, ...] = ()
    expected: timedelta = timedelta(minutes=DEFAULT_EXPECTED_MINUTES)

    @property
    def window_bound(self) -> bool:
        return bool(self.windows)


def is_window_bound(kind: UpdateKind, hosting_model: HostingModel) -> bool:
    """Version updates of Campus Cloud districts start only inside a maintenance window."""
    return kind is UpdateKind.VERSION_UPDATE and hosting_model is HostingModel.CAMPUS_CLOUD


def rules_for(
    kind: UpdateKind, hosting_model: HostingModel, windows: Iterable[WeeklyWindow], expected: timedelta
) -> StartRules:
    """The rules of one request, given its hosting model's windows."""
    bound = is_window_bound(kind, hosting_model)
    return StartRules(tuple(windows) if bound else (), expected)


def _slots(at: datetime, windows: tuple[WeeklyWindow, ...]) -> Iterator[Slot]:
    """Merged window slots that have not ended at `at`, in time order (bounded lookahead)."""
    yield from next_slots(at, windows, _SLOTS_PER_SEARCH)


def next_start(at: datetime, rules: StartRules) -> datetime | None:
    """The earliest start at or after `at` where the work may start; None when there is none
    within the lookahead (say every window is shorter than the expected duration)."""
    if not rules.windows:
        return at
    for slot in _slots(at, rules.windows):
        candidate = max(at, slot.start)
        if candidate + rules.expected <= slot.end:
            return candidate
    return None


def start_conflict(start: datetime, rules: StartRules) -> ErrorCode | None:
    """Why the work may not start at `start` (None: it may). Defined by `next_start`: a start is
    fine exactly when it is its own next possible start."""
    if next_start(start, rules) == start:
        return None
    inside = any(slot.contains(start) for slot in _slots(start, rules.windows))
    return ErrorCode.WINDOW_TOO_SHORT if inside else ErrorCode.OUTSIDE_MAINTENANCE_WINDOW


def conflict_message(code: ErrorCode, start: datetime, rules: StartRules) -> str:
    """A sentence staff can act on: what is wrong with `start`, and the next start that fits."""
    upcoming = next_start(start, rules)
    hint = f" The next start that fits is {upcoming.isoformat()}." if upcoming else ""
    minutes = round(rules.expected.total_seconds() / 60)
    if code is ErrorCode.WINDOW_TOO_SHORT:
        return (
            f"This work is expected to take about {minutes} minutes and would run past the end of the "
            f"maintenance window ({describe_windows(rules.windows)}).{hint} Staff may override."
        )
    return (
        "Version updates of Campus Cloud districts start inside the maintenance window "
        f"({describe_windows(rules.windows)}).{hint} Staff may override."
    )
