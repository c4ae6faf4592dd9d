"""The pre-flight of a start (hosting staff): every conflict of a proposed start at once, typed,
with the earliest start that has none (`scheduleCheck`; staff scheduling refuses with the same
findings), and the scheduled requests that a later change of windows, blackouts or other schedules
put in conflict (`scheduleConflicts`). Nothing here moves a request: changing windows or blackouts
never moves scheduled work silently; the dispatcher re-slots only at start time.

The judgement itself is `models.schedule` (the same function dispatch and begin ask), with the
busy slots of other work on the same site added (`models.requests.busy`)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from models.access import Actor, require_staff
from models.blackouts import covers, facts_of, period_of, scope_of
from models.clock import utcnow
from models.enums import EnvironmentKind, ErrorCode, HostingModel, UpdateStatus
from models.errors import DomainError
from models.maintenance import weekly_window
from models.requests.busy import DistrictRules, Holder, busy_for, busy_slots, slot_holders
from models.requests.queries import get_visible_request, related
from models.requests.slots import decision_rules, start_rules
from models.running import DEFAULT_POLICY, RunPolicy
from models.schedule import StartRules, conflicts_at, next_start, refusable
from models.schedule_words import conflict_message, next_start_text
from models.tables import Blackout, District, Environment, MaintenanceWindow, UpdateRequest
from models.windows import WeeklyWindow

#: Staff may schedule "now"; a start further in the past than this is a mistake.
SCHEDULE_PAST_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True)
class Finding:
    """One conflict of a request's start, as the API shows it (`ScheduleConflict`)."""

    code: ErrorCode
    message: str
    update_request_id: int
    conflicting_request_id: int | None = None
    blackout_id: int | None = None

    def as_error(self) -> DomainError:
        return DomainError(self.code, self.message, "start")


@dataclass(frozen=True)
class Verdict:
    """A proposed start judged: its findings and the earliest start at or after it (never in the
    past) that has none; None when no maintenance window is long enough for the work."""

    findings: list[Finding]
    next_possible_start: datetime | None


def judged_start(start: datetime, now: datetime) -> datetime:
    """When a proposed start is judged: work cannot begin before now, so a start staff give a little
    in the past ("now", typed a minute ago) is judged as starting now. Otherwise it would pass with
    no conflict while the window has run out since, and the dispatcher would re-slot it at once."""
    return max(start, now)


def judge(
    request_id: int,
    start: datetime,
    rules: StartRules,
    now: datetime,
    *,
    window_override: bool = False,
    from_now: bool = False,
) -> Verdict:
    """Every conflict of starting request `request_id` at `start` under `rules` (window ones left
    out when staff override the window), and the next possible start. `from_now`: a proposed start
    (not one already scheduled), judged at `judged_start`."""
    at = judged_start(start, now) if from_now else start
    conflicts = refusable(conflicts_at(at, rules), window_override)
    upcoming = next_start(max(start, now), rules.without_windows() if window_override else rules)
    findings = [
        Finding(
            c.code,
            conflict_message(c, at, rules, upcoming),
            request_id,
            c.busy.request_id if c.busy else None,
            c.blackout.blackout_id if c.blackout else None,
        )
        for c in conflicts
    ]
    if start < now - SCHEDULE_PAST_TOLERANCE:
        past = f"The start is in the past. {next_start_text(upcoming, rules)}"
        findings.insert(0, Finding(ErrorCode.VALIDATION, past, request_id))
    return Verdict(findings, upcoming)


async def preflight_rules(
    request: UpdateRequest,
    district: District,
    environment: EnvironmentKind,
    policy: RunPolicy,
    now: datetime,
    *,
    deciding: bool = False,
) -> StartRules:
    """The rules of the pre-flight: windows, blackouts and the busy slots of other work on the
    site. `deciding`: the caller's transaction commits a start (staff scheduling)."""
    load = decision_rules if deciding else start_rules
    rules = await load(request, district, policy, now)
    return rules.with_busy(await busy_slots(request, environment, rules, now))


async def schedule_check(
    actor: Actor,
    request_id: int,
    start: datetime,
    *,
    now: datetime | None = None,
    policy: RunPolicy = DEFAULT_POLICY,
) -> Verdict:
    """Staff: every conflict of starting the request at `start`, and the next start with none."""
    require_staff(actor)
    now = now or utcnow()
    if start.tzinfo is None or start.utcoffset() is None:
        raise DomainError(ErrorCode.VALIDATION, "start must carry a UTC offset.", "start")
    request = await get_visible_request(actor, request_id)
    district = await District.get(id=request.district_id)
    environment = await Environment.get(id=request.environment_id)
    rules = await preflight_rules(request, district, environment.kind, policy, now)
    return judge(request.id, start, rules, now, from_now=True)


async def _windows_by_model() -> dict[HostingModel, tuple[WeeklyWindow, ...]]:
    by_model: dict[HostingModel, list[WeeklyWindow]] = defaultdict(list)
    for row in await MaintenanceWindow.all().order_by("weekday", "start_time", "id"):
        by_model[row.hosting_model].append(weekly_window(row))
    return {model: tuple(windows) for model, windows in by_model.items()}


async def schedule_conflicts(
    actor: Actor, *, now: datetime | None = None, policy: RunPolicy = DEFAULT_POLICY
) -> list[Finding]:
    """Staff: the scheduled requests whose start now conflicts (a window or blackout changed since
    they were scheduled, or another schedule overlaps), each conflict with its code and message,
    soonest start first. Reads everything in four queries; moves nothing."""
    require_staff(actor)
    now = now or utcnow()
    scheduled = (
        await UpdateRequest.filter(
            status=UpdateStatus.SCHEDULED, scheduled_start__isnull=False, deleted_at__isnull=True
        )
        .select_related("district", "environment")
        .order_by("scheduled_start", "id")
    )
    if not scheduled:
        return []
    windows = await _windows_by_model()
    oldest = min(r.scheduled_start for r in scheduled if r.scheduled_start is not None)  # all have one
    blackout_rows = list(await Blackout.filter(end__gt=min(oldest, now)).order_by("start", "id"))
    holders: dict[int, list[Holder]] = defaultdict(list)
    for holder in await slot_holders(r.district_id for r in scheduled):
        holders[holder.row.district_id].append(holder)
    findings: list[Finding] = []
    for request in scheduled:
        if request.scheduled_start is None:
            continue
        district = related(request, "district", District)
        kind = related(request, "environment", Environment).kind
        facts = facts_of(district)
        blackouts = tuple(period_of(b) for b in blackout_rows if covers(scope_of(b), facts))
        district_rules = DistrictRules(
            district.hosting_model,
            policy.expected_duration,
            blackouts,
            windows.get(district.hosting_model, ()),
        )
        rules = replace(
            district_rules.of(request),
            busy=tuple(busy_for(request, kind, holders[district.id], district_rules, now)),
            time_zone=district.time_zone,
        )
        verdict = judge(
            request.id, request.scheduled_start, rules, now, window_override=request.window_override
        )
        findings.extend(f for f in verdict.findings if f.code is not ErrorCode.VALIDATION)
    return findings
