"""Staff pause, resume and cancel a rollout.

- Pause: nothing new starts (the dispatcher's wave check wants RUNNING); running districts finish,
  queued ones keep their places. A window-bound one whose slot passes meanwhile is set aside by the
  dispatcher (DEFERRED, once, its invitation withdrawn: `held`), not moved to a new slot each week.
  A district staff schedule themselves after the pause is theirs and runs at its time, within the
  wave (`staff_runs`); the resume leaves it as it is.
- Resume: a paused rollout runs again (no failure accepted). A halted one too: staff accept the
  failures so far, each failed request marked (the budget counts the failures without the mark;
  a retry clears it) and the requests the halt set aside (PENDING_INPUT) go back to their next
  slot that fits. To keep a district out, defer its request first (DEFERRED stays).
  Either way its TO_BE_SCHEDULED requests (a failure staff put back in the queue, one no window
  fitted) and those the pause set aside are placed in their next slot too.
- Cancel: every request that has not started is cancelled (PENDING_INPUT and DEFERRED ones go
  back to TO_BE_SCHEDULED first: DESIGN's table cancels only from there or SCHEDULED); running ones
  finish. What a cancelled one superseded (a district's own older request) returns to the queue as
  after a single cancel (`withdrawing.return_superseded`), its district locked first as there.

Each takes the rollout's lock first (a compare-and-set on its status), then moves requests, the
same order as the dispatcher and the budget.
"""

from __future__ import annotations

from datetime import datetime

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from models.access import Actor, require_staff
from models.clock import utcnow
from models.enums import ErrorCode, RolloutStatus, UpdateStatus
from models.errors import DomainError
from models.events import AfterCommit, deliver
from models.requests.moves import record_move
from models.requests.withdrawing import return_superseded
from models.rollouts.budget import accept_failures
from models.rollouts.counts import counts_of
from models.rollouts.held import held_by_pause
from models.rollouts.rows import announce, capitalized, change, describe, get_rollout
from models.rollouts.rules import (
    IN_FLIGHT,
    QUEUED,
    SET_ASIDE,
    Action,
    check_action,
    rolled_up_status,
)
from models.rollouts.staff_runs import record_stop
from models.rollouts.starting import place
from models.running import DEFAULT_POLICY, RunPolicy
from models.tables import District, GroupRollout, UpdateRequest

R = RolloutStatus
S = UpdateStatus


async def _checked(rollout_id: int, action: Action) -> GroupRollout:
    """The rollout, if `action` is allowed from its status now; else the refusal."""
    rollout = await get_rollout(rollout_id)
    counts = (await counts_of([rollout_id]))[rollout_id].total()
    check_action(action, rollout.status, rolled_up_status(rollout.status, counts))
    return rollout


async def _take(rollout: GroupRollout, action: Action, now: datetime, **changes: object) -> None:
    """The compare-and-set that decides (and locks); when the rollout moved since it was read, the
    refusal its new status calls for."""
    if await change(rollout.id, {rollout.status}, updated_at=now, **changes):
        return
    await _checked(rollout.id, action)
    raise DomainError(ErrorCode.INVALID_TRANSITION, "The rollout changed meanwhile; look at it again.", "id")


async def pause_group_rollout(actor: Actor, rollout_id: int, now: datetime | None = None) -> GroupRollout:
    """Staff: start nothing more of this rollout until it is resumed."""
    require_staff(actor)
    now = now or utcnow()
    after = AfterCommit()
    async with in_transaction():
        rollout = await _checked(rollout_id, Action.PAUSE)
        message = (
            "Paused by the hosting team: no further district starts until it is resumed; "
            "districts already running finish."
        )
        await _take(rollout, Action.PAUSE, now, status=R.PAUSED, status_message=message)
        await record_stop(rollout_id, now)
        await announce(rollout_id, after, now)
    await deliver(after)
    return await get_rollout(rollout_id)


async def resume_group_rollout(
    actor: Actor, rollout_id: int, now: datetime | None = None, policy: RunPolicy = DEFAULT_POLICY
) -> GroupRollout:
    """Staff: run a paused or halted rollout again (a halted one: its failures so far accepted,
    the requests it set aside back in their next slot)."""
    require_staff(actor)
    now = now or utcnow()
    after = AfterCommit()
    async with in_transaction():
        await _lock_districts(rollout_id)
        rollout = await _checked(rollout_id, Action.RESUME)
        was_halted = rollout.status is R.HALTED
        await _take(rollout, Action.RESUME, now, status=R.RUNNING, status_message=None)
        waiting = {S.TO_BE_SCHEDULED}
        if was_halted:
            await accept_failures(rollout_id)
            waiting.add(S.PENDING_INPUT)
        moved = await _requeue(actor, rollout, waiting, now, after, policy, await held_by_pause(rollout_id))
        await announce(rollout_id, after, now, moved=moved)
    await deliver(after)
    return await get_rollout(rollout_id)


async def _lock_districts(rollout_id: int) -> None:
    """The rollout's districts' rows, before the rollout's own: placing its requests (a resume)
    reads each site's other slots, so it takes turns with staff scheduling there, which locks the
    district and then the rollout (`models.requests.staff`). Two starts never share a slot. A
    cancel takes turns with new requests for them (`cancel_group_rollout`). In the order a new
    rollout of the group locks them (`starting`: by name), so the two never wait in a circle."""
    ids = await UpdateRequest.filter(rollout_id=rollout_id).distinct().values_list("district_id", flat=True)
    if ids:
        await District.filter(id__in=list(ids)).order_by("name", "id").select_for_update()


async def _requeue(
    actor: Actor,
    rollout: GroupRollout,
    statuses: set[UpdateStatus],
    now: datetime,
    after: AfterCommit,
    policy: RunPolicy,
    held: list[int],
) -> list[int]:
    """Requests of a resumed rollout in `statuses`, and those its pause `held`, to their next slot
    that fits; when no window is long enough, set-aside ones to TO_BE_SCHEDULED for staff. The ids
    that moved."""
    resumed = f"{capitalized(describe(rollout, rollout.update_group.name))} was resumed"
    moved = []
    waiting = Q(status__in=list(statuses))
    if held:
        waiting |= Q(id__in=held)
    for request in (
        await UpdateRequest.filter(
            waiting,
            rollout_id=rollout.id,
            deleted_at__isnull=True,
        )
        .select_related("district")
        .order_by("id")
    ):
        was = request.status
        try:
            await place(actor, request, request.district, resumed, now, after, policy, rollout.environment)
            if request.status in SET_ASIDE:  # no slot fits
                await record_move(request, S.TO_BE_SCHEDULED, actor, after, message=f"{resumed}.", now=now)
        except DomainError:
            continue  # staff moved it at the same moment: left as it now is
        if request.status is not was:
            moved.append(request.id)
    return moved


async def cancel_group_rollout(actor: Actor, rollout_id: int, now: datetime | None = None) -> GroupRollout:
    """Staff: cancel every request of the rollout that has not started; running ones finish."""
    require_staff(actor)
    now = now or utcnow()
    after = AfterCommit()
    async with in_transaction():
        # As a single cancel does, take turns with new requests for each district (a rollout of a
        # newer version starting now): one made meanwhile finds what this cancel returns to the
        # queue back there and supersedes it anew, rather than leaving it open beside itself.
        await _lock_districts(rollout_id)
        rollout = await _checked(rollout_id, Action.CANCEL)
        await _take(rollout, Action.CANCEL, now, status=R.CANCELLED)
        what = capitalized(describe(rollout, rollout.update_group.name))
        cancelled = await _cancel_unstarted(actor, rollout_id, f"{what} was cancelled", now, after)
        running = await UpdateRequest.filter(rollout_id=rollout_id, status__in=list(IN_FLIGHT)).count()
        summary = (
            f"Cancelled by the hosting team: {len(cancelled)} districts that had not started were cancelled"
        )
        summary += f"; {running} already running finish." if running else "."
        await GroupRollout.filter(id=rollout_id).update(status_message=summary)
        await announce(rollout_id, after, now, moved=cancelled)
    await deliver(after)
    return await get_rollout(rollout_id)


async def _cancel_unstarted(
    actor: Actor, rollout_id: int, reason: str, now: datetime, after: AfterCommit
) -> list[int]:
    """Cancel each request of the rollout that has not started; their ids. Cancelling one that
    superseded older requests returns those to the queue, as any cancel does."""
    message = f"{reason}, so this update will not run."
    cancelled = []
    for request in await UpdateRequest.filter(
        rollout_id=rollout_id, status__in=list(QUEUED | SET_ASIDE), deleted_at__isnull=True
    ).order_by("id"):
        try:
            if request.status in SET_ASIDE:
                await record_move(request, S.TO_BE_SCHEDULED, actor, after, message=message, now=now)
            await record_move(request, S.CANCELLED, actor, after, message=message, now=now)
        except DomainError:
            continue  # moved meanwhile (a group contact cancelled it, staff acted on it)
        await return_superseded(request, after, now)
        cancelled.append(request.id)
    return cancelled
