"""Waves: never more than `wave_size` of a rollout's requests started and unfinished at once, and
none started while the rollout is paused, halted or over its error budget, except a district staff
scheduled themselves since the rollout was paused or halted (`staff_runs`): they chose to run it
while the rest stays stopped, so it starts at its time within the wave (a paused rollout's within
its budget too; a halted one has spent it). What is left of a cancelled rollout (work begun before
the cancel, requests returned to the queue since) starts as ordinary requests do: the cancel itself
cancelled everything that had not started.

The dispatcher asks `may_start` inside the transaction that would move the request to NOT_STARTED,
before that move. A cheap look first (no lock, no write: a waiting rollout costs each pass two
reads, three for a stopped one's request staff did not run); then what decides: the rollout's row
lock, taken with a conditional UPDATE that holds only while the rollout keeps the status looked at
(`rows.change`), and a count under it of the rollout's requests in flight and failed. A dispatcher
that held the lock before committed its own start first, so the count includes it: of several
schedulers starting requests of one rollout, each sees the others' starts, and the wave is never
exceeded (no check-then-act). A request outside any rollout costs nothing here.
"""

from __future__ import annotations

from models.enums import RolloutStatus, UpdateStatus
from models.rollouts.counts import status_counts
from models.rollouts.rows import change
from models.rollouts.rules import IN_FLIGHT
from models.rollouts.rules import may_start as rule_may_start
from models.rollouts.staff_runs import run_by_staff
from models.tables import GroupRollout, UpdateRequest

RUNNING = RolloutStatus.RUNNING
HALTED = RolloutStatus.HALTED
#: Stopped by staff (a pause) or the budget (a halt): only what staff run themselves starts.
STOPPED = (RolloutStatus.PAUSED, HALTED)
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
    if RolloutStatus(status) in STOPPED:
        return await _staff_run(request, rollout_id, RolloutStatus(status), wave_size, max_failures)
    # The cheap look: a full wave or a stopped rollout is refused without a lock or a write.
    if not rule_may_start(
        RolloutStatus(status), await status_counts(rollout_id, COUNTED), wave_size, max_failures
    ):
        return False
    if not await change(rollout_id, {RUNNING}, status=RUNNING):
        return False  # paused, halted or cancelled meanwhile
    return rule_may_start(RUNNING, await status_counts(rollout_id, COUNTED), wave_size, max_failures)


async def _staff_run(
    request: UpdateRequest, rollout_id: int, stopped: RolloutStatus, wave_size: int, max_failures: int
) -> bool:
    """Whether `request` of a paused or halted rollout starts: only when staff scheduled it
    themselves since the rollout stopped (the rest of its queue stays stopped), and within the
    wave; in a paused rollout, within the budget too (a failure since halts it at the next pass,
    which sets this request aside with the rest). Asked again under the rollout's lock, so a resume,
    cancel or new stop at the same moment comes first (and is counted from) or after."""
    if request.id not in await run_by_staff([request.id]):
        return False  # the cheap look: the rollout's own queued work waits
    if not await change(rollout_id, {stopped}, status=stopped):
        return False  # resumed or cancelled meanwhile: the next pass decides as it then is
    if request.id not in await run_by_staff([request.id]):
        return False  # resumed and stopped again meanwhile: staff's move came before this stop
    counts = await status_counts(rollout_id, COUNTED)
    if stopped is HALTED:  # its budget is spent: what staff run counts against the wave alone
        counts.pop(UpdateStatus.UNABLE_TO_COMPLETE, None)
    return rule_may_start(RUNNING, counts, wave_size, max_failures)
