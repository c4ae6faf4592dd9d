"""Waves: never more than `wave_size` of a rollout's requests started and unfinished at once, and
none started while the rollout is paused, halted or over its error budget, except, in a halted
rollout, a district staff scheduled themselves since the halt (`budget.scheduled_by_staff`): they
chose to run it while the rest stays halted. What is left of a cancelled rollout (work begun before
the cancel, requests returned to the queue since) starts as ordinary requests do: the cancel itself
cancelled everything that had not started.

The dispatcher asks `may_start` inside the transaction that would move the request to NOT_STARTED,
before that move. A cheap look first (no lock, no write: a waiting rollout costs each pass two
reads); then what decides: the rollout's row lock, taken with a conditional UPDATE that holds only
while the rollout is RUNNING (`rows.change`), and a count under it of the rollout's requests in
flight and failed. A dispatcher that held the lock before committed its own start first, so the
count includes it: of several schedulers starting requests of one rollout, each sees the others'
starts, and the wave is never exceeded (no check-then-act). A request outside any rollout costs
nothing here.
"""

from __future__ import annotations

from models.enums import RolloutStatus, UpdateStatus
from models.rollouts.budget import scheduled_by_staff
from models.rollouts.counts import status_counts
from models.rollouts.rows import change
from models.rollouts.rules import IN_FLIGHT, wave_has_room
from models.rollouts.rules import may_start as rule_may_start
from models.tables import GroupRollout, UpdateRequest

RUNNING = RolloutStatus.RUNNING
HALTED = RolloutStatus.HALTED
#: What the wave and budget checks count (failures staff accepted left out: `status_counts`).
COUNTED = IN_FLIGHT | {UpdateStatus.UNABLE_TO_COMPLETE}


async def may_start(request: UpdateRequest) -> bool:
    """Whether `request` may start now as far as its rollout is concerned (always, outside one).
    Must run inside the dispatching transaction, which then keeps the rollout locked until its
    start is committed (or rolled back)."""
    rollout_id = request.rollout_id
    if rollout_id is None:
        return True
    rows = await GroupRollout.filter(id=rollout_id).values_list("status", "wave_size", "max_failures")
    if not rows:
        return True  # its rollout is gone (a group deleted): an ordinary request now
    status, wave_size, max_failures = rows[0]
    if RolloutStatus(status) is RolloutStatus.CANCELLED:
        # The cancel cancelled every request that had not started; one in the queue now came back
        # since (begun before the cancel and re-slotted, or returned by a cancelled supersession
        # and scheduled by staff): an ordinary request, as when its rollout is gone.
        return True
    if RolloutStatus(status) is HALTED:
        return await _staff_run(request, rollout_id, wave_size)
    # The cheap look: a full wave or a stopped rollout is refused without a lock or a write.
    if not rule_may_start(
        RolloutStatus(status), await status_counts(rollout_id, COUNTED), wave_size, max_failures
    ):
        return False
    if not await change(rollout_id, {RUNNING}, status=RUNNING):
        return False  # paused, halted or cancelled meanwhile
    return rule_may_start(RUNNING, await status_counts(rollout_id, COUNTED), wave_size, max_failures)


async def _staff_run(request: UpdateRequest, rollout_id: int, wave_size: int) -> bool:
    """Whether `request` of a halted rollout starts: only when staff scheduled it themselves since
    the halt (the halt set aside everything queued at its moment), and within the wave. Under the
    rollout's lock, so a resume or cancel at the same moment comes first or after."""
    if request.id not in await scheduled_by_staff([request.id]):
        return False
    if not await change(rollout_id, {HALTED}, status=HALTED):
        return False  # resumed or cancelled meanwhile: the next pass decides as it then is
    return wave_has_room(sum((await status_counts(rollout_id, IN_FLIGHT)).values()), wave_size)
