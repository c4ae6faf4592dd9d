"""Waves: never more than `wave_size` of a rollout's requests started and unfinished at once, and
none started while the rollout is paused, halted, cancelled or over its error budget.

The dispatcher asks `may_start` inside the transaction that would move the request to NOT_STARTED,
before that move. It takes the rollout's row lock with a conditional UPDATE that holds only while
the rollout is RUNNING (`rows.change`), then counts the rollout's requests in flight and failed:
a dispatcher that held the lock before committed its own start first, so the count includes it.
Of several schedulers starting requests of one rollout, each sees the others' starts: the wave is
never exceeded (no check-then-act). A request outside any rollout costs nothing here.
"""

from __future__ import annotations

from models.enums import RolloutStatus, UpdateStatus
from models.rollouts.counts import status_counts
from models.rollouts.rows import change
from models.rollouts.rules import IN_FLIGHT
from models.rollouts.rules import may_start as rule_may_start
from models.tables import GroupRollout, UpdateRequest

RUNNING = RolloutStatus.RUNNING
#: What the wave and budget checks count.
COUNTED = IN_FLIGHT | {UpdateStatus.UNABLE_TO_COMPLETE}


async def may_start(request: UpdateRequest) -> bool:
    """Whether `request` may start now as far as its rollout is concerned (always, outside one).
    Must run inside the dispatching transaction, which then keeps the rollout locked until its
    start is committed (or rolled back)."""
    if request.rollout_id is None:
        return True
    if not await change(request.rollout_id, {RUNNING}, status=RUNNING):
        return False  # paused, halted or cancelled: nothing new starts
    limits = await GroupRollout.filter(id=request.rollout_id).values_list(
        "wave_size", "max_failures", "accepted_failures"
    )
    wave_size, max_failures, accepted = limits[0]
    counts = await status_counts(request.rollout_id, COUNTED)
    return rule_may_start(RUNNING, counts, wave_size, max_failures, accepted)
