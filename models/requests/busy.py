"""Other work on the same site, as slots of time: what the pre-flight (`scheduleCheck`, staff
scheduling, `scheduleConflicts`) and the system's re-slot judge ENVIRONMENT_BUSY by.

A request holds a slot on its site while it is scheduled (from its start, for the expected
duration; once due and still not begun, at least that long from now) and while it runs (from when
it was dispatched or started; an overrunning one at least a little longer than now). A scheduled
request that a blackout keeps from running in its slot holds nothing: it cannot start there, and
the dispatcher moves it when it falls due, clear of what the others hold by then (were its slot
kept, work moved past the same blackout would be pushed behind it, a week for a weekly window).
Should the blackout be deleted first, its slot holds again and `scheduleConflicts` lists any
overlap; the claim on the site still runs one job at a time. Two requests
of one district share a site when they hold a common environment (`models.schedule.shares_site`: a
refresh also holds production, which it copies).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from models.enums import EnvironmentKind, UpdateStatus
from models.requests.queries import related
from models.running import RUNNING_STATUSES
from models.schedule import BlackoutPeriod, BusySlot, StartRules, shares_site
from models.tables import Environment, UpdateRequest
from models.windows import touching
from models.words import request_phrase

#: Statuses of requests that hold a slot on their site: scheduled, about to start, running.
SLOT_STATUSES = (UpdateStatus.SCHEDULED, UpdateStatus.NOT_STARTED, UpdateStatus.IN_PROGRESS)
#: A running request past its expected duration is taken to hold its site at least this much longer
#: than now (it has not finished: whoever schedules after it should leave it some room).
OVERRUN_MARGIN = timedelta(minutes=15)


def slot_of(
    row: UpdateRequest,
    environment: EnvironmentKind,
    expected: timedelta,
    now: datetime,
    blackouts: Sequence[BlackoutPeriod] = (),
) -> BusySlot | None:
    """The slot `row` (on an environment of kind `environment`) holds; None when it has no start,
    or when it is scheduled where one of `blackouts` (those covering its district) keeps it from
    running: from its start, or from now once it is due."""
    running = row.status in RUNNING_STATUSES
    start = (row.started_at or row.dispatched_at or row.scheduled_start) if running else row.scheduled_start
    if start is None:
        return None
    if not running and touching(max(start, now), expected, blackouts):
        return None
    end = start + expected
    if running:
        end = max(end, now + OVERRUN_MARGIN)
    elif start <= now:
        # Due but not begun (waiting for its site, or for the next dispatcher pass): it may begin
        # at any moment, so it holds its site at least for its expected duration from now.
        end = max(end, now + expected)
    return BusySlot(start, end, row.id, request_phrase(row.kind, environment, row.target_version), running)


def busy_for(
    request: UpdateRequest,
    environment: EnvironmentKind,
    others: Iterable[tuple[UpdateRequest, EnvironmentKind]],
    expected: timedelta,
    now: datetime,
    blackouts: Sequence[BlackoutPeriod],
) -> list[BusySlot]:
    """The slots of `others` (rows of the same district with their environment's kind) that keep
    `request` from running at the same time; `blackouts`: those covering the district."""
    slots = []
    for row, kind in others:
        if row.id == request.id or not shares_site(request.kind, environment, row.kind, kind):
            continue
        slot = slot_of(row, kind, expected, now, blackouts)
        if slot is not None:
            slots.append(slot)
    return slots


async def slot_holders(district_ids: Iterable[int]) -> list[tuple[UpdateRequest, EnvironmentKind]]:
    """Every request of these districts that holds a slot, with its environment's kind (one query)."""
    rows = await UpdateRequest.filter(
        district_id__in=sorted(set(district_ids)), status__in=list(SLOT_STATUSES), deleted_at__isnull=True
    ).select_related("environment")
    return [(row, related(row, "environment", Environment).kind) for row in rows]


async def busy_slots(
    request: UpdateRequest, environment: EnvironmentKind, rules: StartRules, now: datetime
) -> list[BusySlot]:
    """The slots of other requests that keep `request` from running at the same time; `rules` are
    `request`'s (its expected duration, and the blackouts covering its district, which are the
    other requests' too)."""
    holders = await slot_holders([request.district_id])
    return busy_for(request, environment, holders, rules.expected, now, rules.blackouts)
