"""The error budget: when more of a rollout's requests ended UNABLE_TO_COMPLETE than it allows
(`max_failures`, beyond the failures staff accepted by resuming it), the rollout halts: its queued
requests (TO_BE_SCHEDULED, SCHEDULED) move to PENDING_INPUT with the reason, and the hosting team
is alerted.

Accepted failures are marked on the requests themselves (`UpdateRequest.failure_accepted`), set by
the resume on each request failed at that moment and cleared by any move out of
UNABLE_TO_COMPLETE (a retry). The budget counts the failed requests without the mark: which
failures staff accepted stays exact whichever of them are retried, in whatever order, across any
number of resumes; a retried one that fails again is a new failure.

The scheduler asks `halt_overspent` at the start of every pass. Between a failure and that pass
nothing more of the rollout starts, because the dispatcher's wave check counts failures too
(`waves`). Each halt is one transaction that first takes the rollout's lock (a conditional UPDATE
to HALTED) and re-counts under it, so of several schedulers exactly one halts a rollout.

Work dispatched before a halt is begun work and is left; if it can no longer start afterwards (its
worker came too late for its window), it is set aside like the rest at that moment
(`models.rollouts.held.reslot_dispatched`). Anything else that comes back SCHEDULED to a halted
rollout through the system is set aside by the next pass (`hold_strays`).

A district staff schedule themselves while the rollout is halted (to run it while the rest stays
halted) is theirs, as in a paused rollout: told by the move's account and time
(`models.rollouts.staff_runs`), left by the passes, started within the wave
(`models.rollouts.waves`), and moved to its next slot, not set aside, when it misses its own. The
halt itself sets aside everything queued at its moment, each row read under its lock after the
rollout's, so no SCHEDULED request a staff member placed before the halt (the rollout's start, a
resume) survives it.

Who moves the held requests: DESIGN's status table allows TO_BE_SCHEDULED | SCHEDULED ->
PENDING_INPUT to staff only (with a message), so the halt takes the staff path with no account
(`BUDGET`): the history shows the move with its reason and no person, as for the system.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from tortoise.functions import Count
from tortoise.transactions import in_transaction

from models import sql
from models.access import Actor, Mover
from models.clock import utcnow
from models.enums import NotificationKind, RolloutStatus, UpdateStatus
from models.errors import DomainError
from models.events import AfterCommit, deliver
from models.requests.moves import record_move
from models.rollouts.rows import announce, capitalized, change, describe, get_rollout
from models.rollouts.rules import QUEUED, over_budget
from models.rollouts.staff_runs import record_stop, run_by_staff
from models.running import DEFAULT_POLICY, RunPolicy
from models.tables import GroupRollout, Notification, UpdateRequest

R = RolloutStatus
#: The rollout's budget acting in the hosting team's stead (no account: no person made the move).
BUDGET = Actor(Mover.STAFF)
#: Rollouts a halt can reach: those that may still start work.
ACTIVE = (R.RUNNING, R.PAUSED)


@dataclass(frozen=True)
class Halted:
    rollout_id: int
    failures: int
    held: int  # requests moved to PENDING_INPUT
    #: A sentence for the hosting team (logged, counted and mailed by the caller's policy).
    alert: str


class _WithinBudget(Exception):
    """Raised inside the halting transaction to roll it back: the re-count under the lock found
    the budget no longer spent (staff put a failed request back in the queue meanwhile)."""


async def overspent_ids() -> list[int]:
    """Running or paused rollouts over their budget (two statements; none when nothing runs)."""
    # Every scheduler pass asks this: SQL text made once (models/sql.py).
    active = await sql.select(
        GroupRollout, ("id", "max_failures"), {"status": sql.OneOf(tuple(sorted(ACTIVE)))}
    )
    if not active:
        return []
    failures = dict(
        await UpdateRequest.filter(
            rollout_id__in=[pk for pk, _ in active],
            status=UpdateStatus.UNABLE_TO_COMPLETE,
            failure_accepted=False,
        )
        .annotate(n=Count("id"))
        .group_by("rollout_id")
        .values_list("rollout_id", "n")
    )
    return [pk for pk, limit in active if over_budget(failures.get(pk, 0), limit)]


async def halt_overspent(policy: RunPolicy = DEFAULT_POLICY, now: datetime | None = None) -> list[Halted]:
    """One scheduler pass over the budgets: halt each rollout that spent its own, and set aside
    what came back to a halted rollout's queue since (`hold_strays`). Returns the halts this
    scheduler made."""
    now = now or utcnow()
    await hold_strays(now)
    halted = []
    for rollout_id in await overspent_ids():
        outcome = await halt(rollout_id, policy, now)
        if outcome is not None:
            halted.append(outcome)
    return halted


async def hold_strays(now: datetime) -> list[int]:
    """Scheduled requests of halted rollouts that came back through the system to PENDING_INPUT
    with the halt's reason; their ids. The halt set aside everything queued; work dispatched before
    it but re-slotted since (its worker came too late for its window, or met a blackout) is
    SCHEDULED again, and would otherwise keep a slot (and an invitation) that cannot run. What
    staff scheduled themselves since the halt is left, re-slotted or not (`staff_runs`): set
    aside, it would be scheduled again and set aside again, a mail each pass. One statement when
    there is none, three when all are staff's; each rollout under its lock (taken before its
    requests' rows), so a resume or cancel at the same moment wins or waits, never leaves a
    request set aside in a running rollout."""
    found = await UpdateRequest.filter(
        rollout__status=R.HALTED, status=UpdateStatus.SCHEDULED, deleted_at__isnull=True
    ).values_list("id", "rollout_id")
    if not found:
        return []
    staffs = await run_by_staff([pk for pk, _ in found])
    held: list[int] = []
    for rollout_id in sorted({cast(int, rollout) for pk, rollout in found if pk not in staffs}):
        after = AfterCommit()
        async with in_transaction():
            if not await change(rollout_id, {R.HALTED}, status=R.HALTED):
                continue  # resumed or cancelled meanwhile
            rollout = await get_rollout(rollout_id)
            reason = halt_reason(rollout)
            moved = await hold_queued(
                rollout_id, reason, now, after, statuses=(UpdateStatus.SCHEDULED,), spare_staffs=True
            )
            await announce(rollout_id, after, now, moved=moved)
        await deliver(after)
        held.extend(moved)
    return held


def halt_reason(rollout: GroupRollout) -> str:
    """Why a halted rollout's work is set aside: the halt's own words, as the rollout shows them."""
    what = capitalized(describe(rollout, rollout.update_group.name))
    return rollout.status_message or f"{what} was halted."


async def halt(rollout_id: int, policy: RunPolicy, now: datetime) -> Halted | None:
    """Halt one rollout whose budget is spent; None when another scheduler did, or it is not."""
    after = AfterCommit()
    try:
        async with in_transaction():
            if not await change(rollout_id, ACTIVE, status=R.HALTED, updated_at=now):
                return None
            await record_stop(rollout_id, now)
            rollout = await get_rollout(rollout_id)
            accepted, new = await failures_of(rollout_id)
            if not over_budget(new, rollout.max_failures):
                raise _WithinBudget
            failures = accepted + new
            what = describe(rollout, rollout.update_group.name)
            # What halted it: the failures not accepted (all of them, unless staff resumed it).
            failed = (
                f"{new} more districts could not be updated since it was resumed"
                if accepted
                else (f"{new} districts could not be updated")
            )
            reason = (
                f"{capitalized(what)} was halted: {failed}, more than the {rollout.max_failures} it "
                "allows. Campus Hosting will look into it and decide how to go on."
            )
            await GroupRollout.filter(id=rollout_id).update(status_message=reason)
            held = await hold_queued(rollout_id, reason, now, after)
            await announce(rollout_id, after, now, moved=held)
            alert = (
                f"group rollout {rollout_id} ({what}) halted: {failures} requests UNABLE_TO_COMPLETE, "
                f"budget {rollout.max_failures} (+{accepted} accepted); "
                f"{len(held)} queued requests moved to PENDING_INPUT."
            )
            after.notification_ids.extend(await _alert_mail(alert, what, policy))
    except _WithinBudget:
        return None
    await deliver(after)
    return Halted(rollout_id, failures, len(held), alert)


async def failures_of(rollout_id: int) -> tuple[int, int]:
    """The rollout's failed requests: (accepted by staff, not accepted), in one statement."""
    rows = (
        await UpdateRequest.filter(rollout_id=rollout_id, status=UpdateStatus.UNABLE_TO_COMPLETE)
        .annotate(n=Count("id"))
        .group_by("failure_accepted")
        .values_list("failure_accepted", "n")
    )
    counted = {bool(accepted): n for accepted, n in rows}
    return counted.get(True, 0), counted.get(False, 0)


async def accept_failures(rollout_id: int) -> int:
    """Staff resume the halted rollout: mark each of its requests failed at this moment as
    accepted (the budget counts failures without the mark); how many were marked now. Runs inside
    the resume's transaction, after it took the rollout's lock, before the requests' rows."""
    return await UpdateRequest.filter(
        rollout_id=rollout_id, status=UpdateStatus.UNABLE_TO_COMPLETE, failure_accepted=False
    ).update(failure_accepted=True)


async def hold_queued(
    rollout_id: int,
    reason: str,
    now: datetime,
    after: AfterCommit,
    statuses: Collection[UpdateStatus] = QUEUED,
    spare_staffs: bool = False,
) -> list[int]:
    """Queued requests of the rollout (in `statuses`) to PENDING_INPUT with `reason`; their ids;
    with `spare_staffs`, not those staff scheduled since the halt (`run_by_staff`). Inside the caller's
    transaction, after it took the rollout's lock: each row is read under its own lock, as it is
    once a system move made at the same moment (the dispatcher's re-slot, which takes no rollout
    lock) has committed, so that move does not leave it SCHEDULED behind the halt. One that left
    those statuses meanwhile (a group contact's cancel) is not read."""
    held = []
    rows = (
        await UpdateRequest.filter(rollout_id=rollout_id, status__in=list(statuses), deleted_at__isnull=True)
        .order_by("id")
        .select_for_update()
    )
    spared = await run_by_staff([row.id for row in rows]) if spare_staffs else set()
    for request in rows:
        if request.id in spared:
            continue
        try:
            await record_move(request, UpdateStatus.PENDING_INPUT, BUDGET, after, message=reason, now=now)
        except DomainError:
            continue
        held.append(request.id)
    return held


async def _alert_mail(alert: str, what: str, policy: RunPolicy) -> list[int]:
    if not policy.staff_alert_email:
        return []
    row = await Notification.create(
        update_request_id=None,
        kind=NotificationKind.STAFF_ALERT,
        recipient=policy.staff_alert_email,
        subject=f"Updatedesk alert: {what} was halted"[:300],
        body=alert,
    )
    return [row.id]
