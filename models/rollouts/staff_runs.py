"""Districts staff run themselves while their rollout is stopped (paused or halted).

Staff may schedule one district's request of a stopped rollout themselves (`scheduleUpdateRequest`,
or a move to SCHEDULED), to run it while the rest stays stopped. That request is theirs: it starts
at its time within the wave (`waves`), the pause does not set it aside when its slot passes, nor
the halt's next pass (`held`, `budget.hold_strays`), and when it cannot start in its slot after
all it moves to its next slot as any request does (`held.reslot_dispatched`), one new date.

Told from the rollout's own queued work by the move that made it SCHEDULED: a staff member's
account, after the moment the rollout stopped. The rollout's start and a resume place its requests
with the acting staff member's account too, and a pause keeps queued work in its slots, so the
account alone does not tell: the time does. A stopped rollout's `updated_at` is that moment (the
pause or halt writes it with the new status; nothing else writes it until a resume or cancel).
Staff's own scheduling before the stop is covered by the stop like the rest. Both the stop and
staff's move are written under the rollout's row lock, so their order is known; the clocks that
stamp them may not tell it (one reading for both, or an API process a little behind the one that
stopped it): a move staff make while the rollout is stopped is recorded no earlier than just after
the stop (`staff_move_at`), and the stop no earlier than just after staff's moves before it
(`record_stop`). The system's re-slots since (SCHEDULED to SCHEDULED, or back from
NOT_STARTED when a dispatched one could not start) keep what the request was, as they keep a
window override.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from models.enums import RolloutStatus, UpdateStatus
from models.tables import GroupRollout, StatusChange, UpdateRequest

S = UpdateStatus
#: Where the system's re-slots into SCHEDULED come from: they keep whose the slot was.
RESLOTTED_FROM = (S.SCHEDULED, S.NOT_STARTED)
STOPPED = (RolloutStatus.PAUSED, RolloutStatus.HALTED)
#: The smallest step the stored times keep (both databases keep microseconds).
TICK = timedelta(microseconds=1)


async def staff_move_at(rollout_id: int | None, now: datetime) -> datetime:
    """When staff's move of a request of this rollout into SCHEDULED is recorded: `now`, but when
    the rollout is stopped, never at or before its stop, which this move follows (the caller holds
    the rollout's row lock, taken after the stop's write): the move is then staff's own run."""
    if rollout_id is None:
        return now
    stopped = await GroupRollout.filter(id=rollout_id, status__in=STOPPED).first()
    return now if stopped is None else max(now, stopped.updated_at + TICK)


async def record_stop(rollout_id: int, now: datetime) -> None:
    """Record the stop (pause or halt) of this rollout, whose row the caller's stop has just
    written (so locked) with `now`: no earlier than just after the latest move staff made into
    SCHEDULED of its requests, all of which came before it (each took the rollout's lock), when a
    clock behind theirs read `now`; else that move would count as staff's own run since the stop."""
    latest = (
        await StatusChange.filter(
            update_request__rollout_id=rollout_id, to_status=S.SCHEDULED, by_id__isnull=False
        )
        .order_by("-at")
        .first()
    )
    if latest is not None and latest.at >= now:
        await GroupRollout.filter(id=rollout_id).update(updated_at=latest.at + TICK)


async def run_by_staff(request_ids: Collection[int]) -> set[int]:
    """Of these requests (of paused or halted rollouts), those staff scheduled themselves since
    their rollout stopped, read from the moves into SCHEDULED (the latest that is not a system
    re-slot decides). A request that has since been dispatched (NOT_STARTED) is answered for the
    slot it was dispatched from. Two statements; none for an empty list. Callers that act on the
    answer read it under the rollout's lock, so the stop it counts from is the rollout's own."""
    if not request_ids:
        return set()
    stops: dict[int, datetime] = dict(
        await UpdateRequest.filter(id__in=list(request_ids), rollout_id__isnull=False).values_list(
            "id", "rollout__updated_at"
        )
    )
    if not stops:
        return set()
    rows = (
        await StatusChange.filter(update_request_id__in=list(stops), to_status=S.SCHEDULED)
        .order_by("id")
        .values_list("update_request_id", "from_status", "by_id", "at")
    )
    staffs: dict[int, bool] = {}
    for request_id, source, by, at in rows:
        if by is not None:
            staffs[request_id] = at > stops[request_id]
        elif source is None or S(source) not in RESLOTTED_FROM:
            staffs[request_id] = False
    return {pk for pk, staff in staffs.items() if staff}
