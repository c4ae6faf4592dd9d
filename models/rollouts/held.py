"""A paused rollout's slots that pass: while a rollout is paused its window-bound requests cannot
start, and once a request's slot can no longer be used the dispatcher would move it to its next
slot, mailing the district a new date each week that the pause makes as untrue as the last.
Instead the request is set aside once: DEFERRED with the reason ("on hold until the rollout is
resumed"), which withdraws its invitation; resuming the rollout places it in its next slot with a
new one. A pause within a slot moves nothing.

Who moves it: DESIGN's status table gives SCHEDULED -> DEFERRED to staff only (with a message), so
the pause, which staff made, takes that path with no account (`PAUSE`), as the error budget's halt
does. That is also how a resume tells these from requests staff deferred themselves (to keep a
district out), which stay: their move carries the staff member's account.

Work dispatched before a pause or halt has begun and is left to run; when it can no longer start
after all (its worker, or the scheduler finding that none began it, comes too late for its slot or
meets a blackout), it is set aside at once as the rest of the rollout was (`reslot_dispatched`),
with one notice. Re-slotting it would first mail the district a new date that the pause or halt
makes untrue, and then the set-aside's notice (the halt's next pass, the pause's next slot): two
mails for what the district sees as one change.

A district staff scheduled themselves since the pause or halt (`staff_runs`) is theirs, not the
rollout's queued work: it runs at its time within the wave while the rest stays stopped, and when
it cannot start in its slot (not yet dispatched, or dispatched and too late) it moves to its next
slot as any request does, with one new date: staff chose to run it, so that date holds.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from tortoise.functions import Max

from models.access import Actor, Mover
from models.enums import RolloutStatus, UpdateStatus
from models.errors import DomainError
from models.events import AfterCommit
from models.requests.moves import record_move
from models.requests.queries import Site
from models.requests.slots import reslot, take_district_turn
from models.rollouts.budget import BUDGET, halt_reason
from models.rollouts.rows import capitalized, change, describe, get_rollout
from models.rollouts.staff_runs import run_by_staff
from models.schedule import StartRules
from models.tables import GroupRollout, StatusChange, UpdateRequest

#: The rollout's pause acting in the hosting team's stead (no account: no person made the move).
PAUSE = Actor(Mover.STAFF)
PAUSED = RolloutStatus.PAUSED
HALTED = RolloutStatus.HALTED


def _on_hold(rollout: GroupRollout) -> str:
    return (
        f"{capitalized(describe(rollout, rollout.update_group.name))} is paused by the hosting team, "
        "so this update could not start in its maintenance slot. It is on hold until the rollout "
        "is resumed; you will then be sent its new date."
    )


async def hold_if_paused(request: UpdateRequest, now: datetime, after: AfterCommit) -> bool:
    """Set `request` (SCHEDULED, its slot no longer usable) aside when its rollout is paused and
    staff did not schedule it themselves since; False (nothing done: the caller re-slots it as any
    request) otherwise. Inside the dispatcher's transaction; takes the rollout's lock first, so a
    resume at the same moment either comes after (and places it) or wins (and the caller re-slots
    it as any request)."""
    if request.rollout_id is None or not await change(request.rollout_id, {PAUSED}, status=PAUSED):
        return False
    if request.id in await run_by_staff([request.id]):
        return False  # staff's own: its next slot holds, the pause does not keep it
    rollout = await get_rollout(request.rollout_id)
    try:
        await record_move(request, UpdateStatus.DEFERRED, PAUSE, after, message=_on_hold(rollout), now=now)
    except DomainError:
        return False  # staff moved it at the same moment: left as it now is
    return True


async def reslot_dispatched(
    request: UpdateRequest, site: Site, rules: StartRules, now: datetime, after: AfterCommit
) -> None:
    """Re-slot `request` (NOT_STARTED, not begun, no longer able to start: `slots.reslot`), or,
    when its rollout was paused or halted since its dispatch, set it aside as the pause or halt
    set aside the rest: DEFERRED or PENDING_INPUT with the reason, through SCHEDULED (the way out
    of NOT_STARTED for work that cannot start) with no mail of its own, so the district gets the
    set-aside's notice alone. One staff scheduled themselves since the pause or halt is re-slotted
    as any request (`staff_runs`). Inside the caller's transaction, before it locks any row: the
    district, then the rollout, then the request, the order of dispatch and of a resume."""
    await take_district_turn(request)
    stopped = await _stopped(request.rollout_id)
    if stopped is None or request.id in await run_by_staff([request.id]):
        await reslot(request, site, rules, now, after)
        return
    assert request.rollout_id is not None
    rollout = await get_rollout(request.rollout_id)
    await reslot(request, site, rules, now, after, notify=False)
    if stopped is PAUSED:
        aside, by, why = UpdateStatus.DEFERRED, PAUSE, _on_hold(rollout)
    else:
        aside, by, why = UpdateStatus.PENDING_INPUT, BUDGET, halt_reason(rollout)
    await record_move(request, aside, by, after, message=why, now=now, site=site)


async def _stopped(rollout_id: int | None) -> RolloutStatus | None:
    """PAUSED or HALTED when the rollout is (its row then locked, so a resume waits for the
    caller's transaction); None for work of no rollout, or of one that runs or was cancelled."""
    if rollout_id is None:
        return None
    for status in (PAUSED, HALTED):
        if await change(rollout_id, {status}, status=status):
            return status
    return None


async def held_by_pause(rollout_id: int) -> list[int]:
    """The rollout's DEFERRED requests whose deferral was the pause's (no account), not staff's."""
    deferred = await UpdateRequest.filter(
        rollout_id=rollout_id, status=UpdateStatus.DEFERRED, deleted_at__isnull=True
    ).values_list("id", flat=True)
    if not deferred:
        return []
    latest = (
        await StatusChange.filter(update_request_id__in=list(deferred))
        .annotate(last=Max("id"))
        .group_by("update_request_id")
        .values_list("last", flat=True)
    )
    held = await StatusChange.filter(
        id__in=list(latest), to_status=UpdateStatus.DEFERRED, by_id__isnull=True
    ).values_list("update_request_id", flat=True)
    return sorted(cast(int, pk) for pk in held)
