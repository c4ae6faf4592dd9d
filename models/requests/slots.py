"""Windows and blackouts at the start, with the database: the rules a request's start is judged by
(its hosting model's stored windows, the blackouts covering its district, the expected duration),
and the system's re-slot of work that can no longer start. The arithmetic is `models.schedule`;
this module only loads and moves."""

from __future__ import annotations

from datetime import datetime

from models.access import SYSTEM
from models.blackouts import periods_over
from models.enums import ErrorCode, UpdateStatus
from models.events import AfterCommit
from models.maintenance import windows_of
from models.requests import claims
from models.requests.busy import busy_slots
from models.requests.moves import record_move
from models.requests.queries import Site
from models.running import RunPolicy
from models.schedule import Conflict, StartRules, conflicts_at, is_window_bound, next_start, refusable
from models.schedule_words import reslot_message
from models.start_lock import hold_for_start_decision
from models.tables import District, UpdateRequest


async def start_rules(
    request: UpdateRequest, district: District, policy: RunPolicy, now: datetime | None = None
) -> StartRules:
    """What a start of `request` is judged by: its windows when it is window-bound, and the
    blackouts covering its district (those not ended at `now`; all when None). No busy slots:
    the pre-flight adds them (`models.requests.busy`)."""
    bound = is_window_bound(request.kind, district.hosting_model)
    windows = await windows_of(district.hosting_model) if bound else []
    return StartRules(
        tuple(windows),
        policy.expected_duration,
        tuple(await periods_over(district.id, now)),
        (),
        district.time_zone,
        bound,
    )


async def decision_rules(
    request: UpdateRequest, district: District, policy: RunPolicy, now: datetime
) -> StartRules:
    """`start_rules` for a transaction that decides a start (dispatch, begin, staff scheduling):
    first waits out any blackout or window change under way, so that none that has returned to
    staff is missed (`models.start_lock`). Call it before the transaction takes any row lock."""
    await hold_for_start_decision()
    return await start_rules(request, district, policy, now)


def effective_rules(request: UpdateRequest, rules: StartRules) -> StartRules:
    """A staff override of the window holds through every re-check (it was given for this
    request's start, whenever that comes); blackouts always hold."""
    return rules.without_windows() if request.window_override else rules


def start_conflicts(request: UpdateRequest, rules: StartRules, now: datetime) -> list[Conflict]:
    """Why `request` may not start at `now` (empty: it may)."""
    return refusable(conflicts_at(now, rules), request.window_override)


def cannot_start(request: UpdateRequest, rules: StartRules, now: datetime) -> bool:
    """Whether `request` may not start at `now`: outside its window (unless overridden), or inside
    (or running into) a blackout covering its district."""
    return bool(start_conflicts(request, rules, now))


async def take_district_turn(request: UpdateRequest) -> None:
    """Lock the request's district row, before any rollout or request row (the order staff
    scheduling and a rollout's resume keep: district, rollout, request). A new start is chosen
    clear of the site's other slots, so it takes turns with staff scheduling on the district
    (`models.requests.staff`), which could otherwise take the same slot meanwhile. Taking it again
    in the same transaction costs one statement and waits for nothing."""
    await District.filter(id=request.district_id).select_for_update().first()


async def reslot(
    request: UpdateRequest,
    site: Site,
    rules: StartRules,
    now: datetime,
    after: AfterCommit,
    *,
    notify: bool = True,
) -> datetime | None:
    """Move `request` (SCHEDULED, or NOT_STARTED not yet begun) to the next start with no conflict
    (past the blackout, in the first window slot that fits after it; clear of other work scheduled
    on its site): a system move with the reason in its history and a new invitation for the
    district. When no start fits at all, a dispatched request goes back to SCHEDULED at its old
    start for staff to decide (no mail: there is no new time to announce), and a scheduled one is
    left as it is. Without `notify` no new date is announced: the caller sets the request aside in
    the same transaction, and that move tells the district.
    Returns the new start, or None when there is none. Must run inside a transaction."""
    await take_district_turn(request)
    rules = effective_rules(request, rules)
    leading = (start_conflicts(request, rules, now) or [Conflict(ErrorCode.OUTSIDE_MAINTENANCE_WINDOW)])[0]
    busy = await busy_slots(request, site.environment.kind, rules, now)
    later = next_start(now, rules.with_busy(busy))
    was_dispatched = request.status is UpdateStatus.NOT_STARTED
    if later is None and not was_dispatched:
        return None
    await record_move(
        request,
        UpdateStatus.SCHEDULED,
        SYSTEM,
        after,
        now=now,
        message=reslot_message(leading, rules, later),
        site=site,
        scheduled_start=later or request.scheduled_start,
        lease_token=None,
        lease_expires_at=None,
        # No start fits: a "Scheduled" mail and invitation would name the start that has passed.
        # The district reads why in its status message; staff's new start sends the invitation.
        notify=notify and later is not None,
    )
    if was_dispatched:
        await claims.release(request, site.environment.kind)
    return later
