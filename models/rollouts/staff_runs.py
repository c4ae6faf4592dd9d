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
Staff's own scheduling before the stop is covered by the stop like the rest. The system's re-slots
since (SCHEDULED to SCHEDULED, or back from NOT_STARTED when a dispatched one could not start) keep
what the request was, as they keep a window override.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from models.enums import UpdateStatus
from models.tables import StatusChange, UpdateRequest

S = UpdateStatus
#: Where the system's re-slots into SCHEDULED come from: they keep whose the slot was.
RESLOTTED_FROM = (S.SCHEDULED, S.NOT_STARTED)


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
