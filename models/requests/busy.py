"""Other work on the same site, as slots of time: what the pre-flight (`scheduleCheck`, staff
scheduling, `scheduleConflicts`) and the system's re-slot judge ENVIRONMENT_BUSY by.

A request holds a slot on its site while it is scheduled (from its start, for the expected
duration; once due and still not begun, at least that long from now: it may begin at any moment)
and while it runs (from when it was dispatched or started; an overrunning one at least a little
longer than now). Work that has begun (IN_PROGRESS, or NOT_STARTED with a job holding its lease)
always holds its site, whatever its rules say now: it may be inside a step.

A request not yet begun (SCHEDULED, or dispatched with its job still queued) holds nothing when it
will not run in its slot: its own start rules forbid its start there (judged at its start, or at
now once it is due or dispatched: a blackout, a window that has closed or no longer leaves its
expected duration, unless staff overrode the window), or its site already runs its target or a
newer version (it completes without running when picked up, and versions only go forward). The
dispatcher, the worker's begin or the scheduler's lease sweep moves it (or completes it) when it
reaches it, clear of what the others hold by then (were its slot kept, work moved past the same
blackout would be pushed behind it, a week for a weekly window). Should its rules allow the start
again first (the blackout deleted or over, the window changed back) its slot holds again, and
`scheduleConflicts` lists any overlap; the claim on the site still runs one job at a time. Two
requests of one district share a site when they hold a common environment
(`models.schedule.shares_site`: a refresh also holds production, which it copies).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from models.enums import EnvironmentKind, HostingModel, UpdateStatus
from models.maintenance import windows_of
from models.requests.queries import related
from models.running import RUNNING_STATUSES
from models.schedule import (
    BlackoutPeriod,
    BusySlot,
    StartRules,
    conflicts_at,
    is_window_bound,
    refusable,
    rules_for,
    shares_site,
)
from models.tables import District, Environment, UpdateRequest
from models.versions import nothing_to_install
from models.windows import WeeklyWindow
from models.words import request_phrase

#: Statuses of requests that hold a slot on their site: scheduled, about to start, running.
SLOT_STATUSES = (UpdateStatus.SCHEDULED, UpdateStatus.NOT_STARTED, UpdateStatus.IN_PROGRESS)
#: A running request past its expected duration is taken to hold its site at least this much longer
#: than now (it has not finished: whoever schedules after it should leave it some room).
OVERRUN_MARGIN = timedelta(minutes=15)


@dataclass(frozen=True)
class Holder:
    """A request of the district that may hold a slot: the row, its environment's kind, and the
    version that environment runs now (None: none recorded)."""

    row: UpdateRequest
    environment: EnvironmentKind
    site_version: str | None = None


@dataclass(frozen=True)
class DistrictRules:
    """What the starts of one district's requests are judged by: its hosting model and that
    model's maintenance windows (for window-bound work), the expected duration, and the blackouts
    covering the district."""

    hosting_model: HostingModel
    expected: timedelta
    blackouts: tuple[BlackoutPeriod, ...] = ()
    windows: tuple[WeeklyWindow, ...] = ()

    def of(self, row: UpdateRequest) -> StartRules:
        """The start rules of `row` (a staff window override is applied by `refusable`)."""
        return rules_for(row.kind, self.hosting_model, self.windows, self.expected, self.blackouts)


def begun(row: UpdateRequest) -> bool:
    """Whether a job has taken `row` (its lease has a holder) or started it. A request that does
    not run may still name the job of its earlier run (given up, tried again): not a start."""
    held = row.lease_token is not None and row.status in RUNNING_STATUSES
    return row.status is UpdateStatus.IN_PROGRESS or row.started_at is not None or held


def will_not_run(holder: Holder, rules: StartRules, at: datetime) -> bool:
    """Whether `holder`, not yet begun, will not run if reached at `at`: as the dispatcher and the
    worker's begin judge it (`models.requests.slots.cannot_start`, `completion.already_there`)."""
    row = holder.row
    if nothing_to_install(row.kind, row.target_version, holder.site_version):
        return True
    return bool(refusable(conflicts_at(at, rules), row.window_override))


def slot_of(holder: Holder, rules: StartRules, now: datetime) -> BusySlot | None:
    """The slot `holder` holds under its own start `rules`; None when it has no start, or when it
    has not begun and will not run in its slot: judged at its start, or at now once it is due."""
    row = holder.row
    running = row.status in RUNNING_STATUSES
    start = (row.started_at or row.dispatched_at or row.scheduled_start) if running else row.scheduled_start
    if start is None:
        return None
    if not begun(row) and will_not_run(holder, rules, max(start, now)):
        return None
    end = start + rules.expected
    if running:
        end = max(end, now + OVERRUN_MARGIN)
    elif start <= now:
        # Due but not begun (waiting for its site, or for the next dispatcher pass): it may begin
        # at any moment, so it holds its site at least for its expected duration from now.
        end = max(end, now + rules.expected)
    phrase = request_phrase(row.kind, holder.environment, row.target_version)
    return BusySlot(start, end, row.id, phrase, running)


def busy_for(
    request: UpdateRequest,
    environment: EnvironmentKind,
    others: Iterable[Holder],
    rules: DistrictRules,
    now: datetime,
) -> list[BusySlot]:
    """The slots of `others` (requests of the same district) that keep `request` from running at
    the same time; `rules`: the district's."""
    slots = []
    for holder in others:
        row = holder.row
        if row.id == request.id or not shares_site(request.kind, environment, row.kind, holder.environment):
            continue
        slot = slot_of(holder, rules.of(row), now)
        if slot is not None:
            slots.append(slot)
    return slots


async def slot_holders(district_ids: Iterable[int]) -> list[Holder]:
    """Every request of these districts that holds a slot, with its environment (one query)."""
    rows = await UpdateRequest.filter(
        district_id__in=sorted(set(district_ids)), status__in=list(SLOT_STATUSES), deleted_at__isnull=True
    ).select_related("environment")
    holders = []
    for row in rows:
        site = related(row, "environment", Environment)
        holders.append(Holder(row, site.kind, site.current_version))
    return holders


async def busy_slots(
    request: UpdateRequest, environment: EnvironmentKind, rules: StartRules, now: datetime
) -> list[BusySlot]:
    """The slots of other requests that keep `request` from running at the same time; `rules` are
    `request`'s (its expected duration, and the blackouts covering its district, which are the
    other requests' too; their windows are read here when one of them is bound to windows)."""
    holders = await slot_holders([request.district_id])
    if not holders:
        return []
    district = await District.get(id=request.district_id)
    windows: Sequence[WeeklyWindow] = ()
    if any(is_window_bound(h.row.kind, district.hosting_model) for h in holders):
        windows = await windows_of(district.hosting_model)
    district_rules = DistrictRules(district.hosting_model, rules.expected, rules.blackouts, tuple(windows))
    return busy_for(request, environment, holders, district_rules, now)
