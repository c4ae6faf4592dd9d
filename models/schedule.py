"""When work may start: the one place that answers "can this work start at T?", "what is wrong
with T?" and "when is the next start at or after T where it can?".

A start at T of work expected to take D is judged by three rules, all passed in as data
(`StartRules`):
- **windows**: window-bound work (a version update of a Campus Cloud district, the automatic
  sandbox update included) starts inside a maintenance window with D left before it ends;
- **blackouts**: no work of any kind runs over [T, T + D) during a blackout covering its district
  (never overridden);
- **busy slots** (pre-flight only): no other request holding the same site has a slot overlapping
  [T, T + D). At run time this rule is left empty: the claim on the environment decides, and a due
  request waits for a busy site (`models.requests.claims`).

Staff scheduling and `scheduleCheck` (every conflict at once), `scheduleConflicts`, the dispatcher
and the worker's begin (re-slotting work that can no longer start), and the automatic sandbox update
(first start that fits) all ask `conflicts_at` and `next_start` here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from models.enums import EnvironmentKind, ErrorCode, HostingModel, UpdateKind
from models.running import DEFAULT_EXPECTED_MINUTES, claimed_kinds
from models.windows import Slot, WeeklyWindow, next_slots, touching

#: Merged window slots fetched at a time while searching for a start (a year of weekly windows).
_SLOTS_PER_SEARCH = 60
#: Zone of messages when the district's is not known.
DEFAULT_MESSAGE_ZONE = "America/Chicago"
#: Codes staff may override when scheduling (recorded as `windowOverride`): the window rules only.
#: A blackout is never overridden, and a busy site is never double-booked.
WINDOW_CODES = frozenset({ErrorCode.OUTSIDE_MAINTENANCE_WINDOW, ErrorCode.WINDOW_TOO_SHORT})


@dataclass(frozen=True)
class BlackoutPeriod:
    """A blackout covering the district of the work judged: no work runs in [start, end)."""

    start: datetime
    end: datetime
    blackout_id: int
    reason: str


@dataclass(frozen=True)
class BusySlot:
    """Another request holding the same site over [start, end): scheduled then, or running."""

    start: datetime
    end: datetime
    request_id: int
    #: How people name it ("the update of the production site to Campus.2439.1").
    work: str
    running: bool = False


@dataclass(frozen=True)
class StartRules:
    """What a start of one request is judged by.

    `bound`: the request starts only inside a maintenance window (`is_window_bound`); its hosting
    model's `windows` may be none at all (staff deleted the last one, or are replacing it), and then
    it has no start until one is defined, rather than any start. Work given `windows` is bound.
    `expected`: how long the work is expected to
    take: a window-bound start must leave that much of its window, and no work may run into a
    blackout or another request's slot within it. `time_zone`: the district's, for messages.
    """

    windows: tuple[WeeklyWindow, ...] = ()
    expected: timedelta = timedelta(minutes=DEFAULT_EXPECTED_MINUTES)
    blackouts: tuple[BlackoutPeriod, ...] = ()
    busy: tuple[BusySlot, ...] = ()
    time_zone: str = DEFAULT_MESSAGE_ZONE
    bound: bool = False

    @property
    def window_bound(self) -> bool:
        return self.bound or bool(self.windows)

    def without_windows(self) -> StartRules:
        """The rules of a request whose window staff overrode: blackouts (and busy slots) still hold."""
        return replace(self, windows=(), bound=False)

    def with_busy(self, busy: Iterable[BusySlot]) -> StartRules:
        return replace(self, busy=tuple(busy))


@dataclass(frozen=True)
class Conflict:
    """One reason a start is refused: a window rule, a blackout, or another request's slot."""

    code: ErrorCode
    blackout: BlackoutPeriod | None = None
    busy: BusySlot | None = None


def is_window_bound(kind: UpdateKind, hosting_model: HostingModel) -> bool:
    """Version updates of Campus Cloud districts start only inside a maintenance window."""
    return kind is UpdateKind.VERSION_UPDATE and hosting_model is HostingModel.CAMPUS_CLOUD


def rules_for(
    kind: UpdateKind,
    hosting_model: HostingModel,
    windows: Iterable[WeeklyWindow],
    expected: timedelta,
    blackouts: Iterable[BlackoutPeriod] = (),
    time_zone: str = DEFAULT_MESSAGE_ZONE,
) -> StartRules:
    """The rules of one request, given its hosting model's windows and the blackouts covering its
    district (every kind of work honours those)."""
    bound = is_window_bound(kind, hosting_model)
    return StartRules(tuple(windows) if bound else (), expected, tuple(blackouts), (), time_zone, bound)


def shares_site(
    kind: UpdateKind, environment: EnvironmentKind, other_kind: UpdateKind, other_environment: EnvironmentKind
) -> bool:
    """Whether two requests of one district cannot run at once: they hold a common environment
    (a refresh also holds production, which it copies)."""
    return bool(set(claimed_kinds(kind, environment)) & set(claimed_kinds(other_kind, other_environment)))


def _slots(at: datetime, windows: tuple[WeeklyWindow, ...]) -> Iterator[Slot]:
    """Merged window slots that have not ended at `at`, in time order (bounded lookahead)."""
    yield from next_slots(at, windows, _SLOTS_PER_SEARCH)


def _window_fit(at: datetime, rules: StartRules) -> datetime | None:
    """The earliest start at or after `at` that the windows allow (blackouts aside)."""
    if not rules.window_bound:
        return at
    for slot in _slots(at, rules.windows):
        candidate = max(at, slot.start)
        if candidate + rules.expected <= slot.end:
            return candidate
    return None


def _period_order(period: BlackoutPeriod | BusySlot) -> tuple[datetime, datetime]:
    return period.start, period.end


def _blocked(rules: StartRules) -> list[BlackoutPeriod | BusySlot]:
    return sorted((*rules.blackouts, *rules.busy), key=_period_order)


def next_start(at: datetime, rules: StartRules) -> datetime | None:
    """The earliest start at or after `at` with no conflict: in a window that leaves the expected
    duration (window-bound work), running into no blackout and no busy slot. None only when no
    window slot within the lookahead after the last blocking period is long enough for the work.

    Each round either returns or moves past the end of every period the candidate touched, which
    it can never touch again, so the search ends after at most one round per period."""
    blocked = _blocked(rules)
    candidate = at
    while True:
        fit = _window_fit(candidate, rules)
        if fit is None:
            return None
        touched = touching(fit, rules.expected, blocked)
        if not touched:
            return fit
        candidate = max(period.end for period in touched)


def _window_conflict(start: datetime, rules: StartRules) -> ErrorCode | None:
    if _window_fit(start, rules) == start:
        return None
    inside = any(slot.contains(start) for slot in _slots(start, rules.windows))
    return ErrorCode.WINDOW_TOO_SHORT if inside else ErrorCode.OUTSIDE_MAINTENANCE_WINDOW


def conflicts_at(start: datetime, rules: StartRules) -> list[Conflict]:
    """Every conflict of a start at `start`, at once: the blackouts it would run into (soonest
    first; the one code staff can never override, so it leads), the window rule it breaks, then
    the busy slots it overlaps. Empty: the work may start then; exactly when
    `next_start(start, rules) == start`."""
    blackouts = sorted(rules.blackouts, key=_period_order)
    found = [Conflict(ErrorCode.BLACKOUT, blackout=b) for b in touching(start, rules.expected, blackouts)]
    window = _window_conflict(start, rules)
    if window is not None:
        found.append(Conflict(window))
    busy = sorted(rules.busy, key=_period_order)
    found.extend(Conflict(ErrorCode.ENVIRONMENT_BUSY, busy=b) for b in touching(start, rules.expected, busy))
    return found


def start_conflict(start: datetime, rules: StartRules) -> ErrorCode | None:
    """The leading conflict's code of a start at `start` (None: it may start)."""
    found = conflicts_at(start, rules)
    return found[0].code if found else None


def refusable(conflicts: Iterable[Conflict], window_override: bool) -> list[Conflict]:
    """The conflicts that hold: with staff's window override, all but the window rules."""
    return [c for c in conflicts if not (window_override and c.code in WINDOW_CODES)]
