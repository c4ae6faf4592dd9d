"""What the hosting team does to a request: schedule it (inside a maintenance window, with time to
finish before it ends, unless they override; never in a blackout or over other work on the site),
and move it along the lifecycle (defer, ask for
input, give up, try again, take a superseded request back into the queue)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from models.access import Actor, require_staff
from models.clock import utcnow
from models.enums import ErrorCode, UpdateStatus
from models.errors import DomainError, DomainErrors
from models.events import AfterCommit, deliver
from models.lifecycle import check_move
from models.requests import claims, leases
from models.requests.moves import no_progress, record_move
from models.requests.preflight import SCHEDULE_PAST_TOLERANCE, judge, judged_start, preflight_rules
from models.requests.queries import get_visible_request
from models.requests.withdrawing import return_superseded
from models.rollouts.staff_runs import staff_move_at
from models.running import DEFAULT_POLICY, RUNNING_STATUSES, RunPolicy
from models.schedule import WINDOW_CODES, conflicts_at
from models.start_lock import hold_for_start_decision
from models.tables import District, Environment, GroupRollout, UpdateRequest
from models.validation import MAX_MESSAGE_LENGTH, check_text

#: What the history says of a start staff scheduled against the window rules.
OVERRIDE_MESSAGES = {
    ErrorCode.OUTSIDE_MAINTENANCE_WINDOW: "Scheduled outside the maintenance window by staff override.",
    ErrorCode.WINDOW_TOO_SHORT: "Scheduled by staff override to run past the end of the maintenance window.",
}


async def _read_to_move(
    actor: Actor, request_id: int, *, deciding: bool = False, cancelling: bool = False
) -> UpdateRequest:
    """The request a staff move starts from, read under its row lock, so that a system move
    committed since an unlocked read (a re-slot keeps it SCHEDULED but moves its history on) does
    not make a legal staff move look illegal. Locks in the order every path keeps: the start-
    decision lock when the move decides a start (`deciding`: taken before any row, never after),
    the district's row when the move decides a start or `cancelling` (two starts decided for one
    site take turns, so the second reads the first's slot and is refused ENVIRONMENT_BUSY rather
    than double-booking the site; a cancel takes turns with new requests for the district, as
    `withdrawing.cancel_update_request` does), the rollout's row (its requests' rows come after
    it), then the request's."""
    if deciding:
        await hold_for_start_decision()
    request = await get_visible_request(actor, request_id)
    if deciding or cancelling:
        await District.filter(id=request.district_id).select_for_update().first()
    if request.rollout_id is not None:
        await GroupRollout.filter(id=request.rollout_id).update(updated_at=F("updated_at"))
    return await get_visible_request(actor, request_id, for_update=True)


async def schedule_update_request(
    actor: Actor,
    request_id: int,
    start: datetime,
    *,
    override_maintenance_window: bool = False,
    now: datetime | None = None,
    policy: RunPolicy = DEFAULT_POLICY,
) -> UpdateRequest:
    """Staff: set the start of a request (SCHEDULED). The start is judged as `scheduleCheck`
    judges it, and refused with every conflict at once (`DomainErrors`, the leading one first):
    a blackout, another request's slot on the same site, and (unless staff override the window)
    OUTSIDE_MAINTENANCE_WINDOW / WINDOW_TOO_SHORT. An override is recorded in the history and kept
    through every later re-check; it never overrides a blackout or a busy site."""
    require_staff(actor)
    now = now or utcnow()
    if start.tzinfo is None:
        raise DomainError(ErrorCode.VALIDATION, "start must carry a UTC offset.", "start")
    if start < now - SCHEDULE_PAST_TOLERANCE:
        raise DomainError(ErrorCode.VALIDATION, "start is in the past.", "start")
    after = AfterCommit()
    async with in_transaction():
        request = await _read_to_move(actor, request_id, deciding=True)
        check_move(request.status, UpdateStatus.SCHEDULED, actor.mover)
        district = await District.get(id=request.district_id)
        environment = await Environment.get(id=request.environment_id)
        rules = await preflight_rules(request, district, environment.kind, policy, now, deciding=True)
        verdict = judge(
            request.id, start, rules, now, window_override=override_maintenance_window, from_now=True
        )
        if verdict.findings:
            raise DomainErrors([finding.as_error() for finding in verdict.findings])
        at = judged_start(start, now)
        overridden = [c.code for c in conflicts_at(at, rules) if c.code in WINDOW_CODES]
        message = OVERRIDE_MESSAGES[overridden[0]] if overridden else None
        await record_move(
            request,
            UpdateStatus.SCHEDULED,
            actor,
            after,
            message=message,
            override_recorded=bool(overridden),
            now=await staff_move_at(request.rollout_id, now),
            scheduled_start=start,
            window_override=bool(overridden),
        )
    await deliver(after)
    return request


async def _refuse_conflicts(
    request: UpdateRequest, start: datetime, policy: RunPolicy, now: datetime
) -> None:
    """Refuse (every conflict at once, naming the `status` input: the start is not one given here)
    a start of `request` that staff scheduling would refuse; the request's own override holds."""
    district = await District.get(id=request.district_id)
    environment = await Environment.get(id=request.environment_id)
    rules = await preflight_rules(request, district, environment.kind, policy, now, deciding=True)
    verdict = judge(request.id, start, rules, now, window_override=request.window_override, from_now=True)
    if verdict.findings:
        raise DomainErrors([DomainError(f.code, f.message, "status") for f in verdict.findings])


async def set_update_request_status(
    actor: Actor,
    request_id: int,
    status: UpdateStatus,
    message: str | None = None,
    now: datetime | None = None,
    policy: RunPolicy = DEFAULT_POLICY,
) -> UpdateRequest:
    """Staff: move a request along the lifecycle table (defer, ask for input, give up, retry...).
    A move to SCHEDULED (a resume with the start it had) is judged as staff scheduling judges
    that start: its slot may have been given to other work, or blacked out, while it was paused."""
    require_staff(actor)
    pinned, now = now, now or utcnow()
    message = check_text(message, "message", MAX_MESSAGE_LENGTH)
    after = AfterCommit()
    async with in_transaction():
        request = await _read_to_move(
            actor,
            request_id,
            deciding=status is UpdateStatus.SCHEDULED,
            cancelling=status is UpdateStatus.CANCELLED,
        )
        changes: dict[str, Any] = {}
        no_future_start = request.scheduled_start is None or (
            request.scheduled_start < now - SCHEDULE_PAST_TOLERANCE
        )
        if status is UpdateStatus.SCHEDULED and no_future_start:
            check_move(request.status, status, actor.mover, message)
            raise DomainError(
                ErrorCode.VALIDATION,
                "This request has no future start time; use scheduleUpdateRequest to give one.",
                "status",
            )
        if status is UpdateStatus.SCHEDULED and request.scheduled_start is not None:
            check_move(request.status, status, actor.mover, message)
            await _refuse_conflicts(request, request.scheduled_start, policy, now)
        was_running = request.status in RUNNING_STATUSES
        if status is UpdateStatus.TO_BE_SCHEDULED and request.status is UpdateStatus.UNABLE_TO_COMPLETE:
            # Try again from the start: forget the failed attempt's checkpoints and progress.
            changes.update(
                completed_steps=[],
                attempts=0,
                reclaims=0,
                started_at=None,
                dispatched_at=None,
                **no_progress(),
            )
        if request.status is UpdateStatus.NEW_VERSION_REQUESTED:
            changes["superseded_by_id"] = None  # back in the queue on its own
        # A job that holds a live lease may still be inside a step on the site: the site stays
        # held until that job has stopped (it gives the site back then) or until its lease would
        # have lapsed (the scheduler's sweep), never handed to other work while it may be busy.
        # Judged by the database's clock, as the job's lease was written: not this process's.
        job_alive = bool(request.lease_token) and await leases.lease_live(request, pinned)
        if was_running and not job_alive:
            changes.update(lease_token=None, lease_expires_at=None)
        # A live job stops at its next renewal or checkpoint (they need a running request). Its
        # token stays, through a retry too (dispatch clears it): the site is kept for that job
        # alone, and an earlier job of the request that stalled and lost its lease to it gives
        # nothing back when it wakes and stops.
        moved_at = await staff_move_at(request.rollout_id, now) if status is UpdateStatus.SCHEDULED else now
        await record_move(request, status, actor, after, message=message, now=moved_at, **changes)
        if status is UpdateStatus.CANCELLED:
            # Withdrawn by a status move as by cancelUpdateRequest: what it superseded goes back
            # to the queue rather than waiting on a request that will never complete.
            await return_superseded(request, after, now)
        if was_running and not job_alive:
            # After the compare-and-set: rows are locked request first, then environment, as
            # complete() and fail() do, so the two cannot deadlock.
            environment = await Environment.get(id=request.environment_id)
            await claims.release(request, environment.kind)
    await deliver(after)
    return request
