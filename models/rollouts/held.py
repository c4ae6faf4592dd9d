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
from models.rollouts.rows import capitalized, change, describe, get_rollout
from models.tables import StatusChange, UpdateRequest

#: The rollout's pause acting in the hosting team's stead (no account: no person made the move).
PAUSE = Actor(Mover.STAFF)
PAUSED = RolloutStatus.PAUSED


async def hold_if_paused(request: UpdateRequest, now: datetime, after: AfterCommit) -> bool:
    """Set `request` (SCHEDULED, its slot no longer usable) aside when its rollout is paused;
    False (nothing done) otherwise. Inside the dispatcher's transaction; takes the rollout's lock
    first, so a resume at the same moment either comes after (and places it) or wins (and the
    caller re-slots it as any request)."""
    if request.rollout_id is None or not await change(request.rollout_id, {PAUSED}, status=PAUSED):
        return False
    rollout = await get_rollout(request.rollout_id)
    message = (
        f"{capitalized(describe(rollout, rollout.update_group.name))} is paused by the hosting team, "
        "so this update could not start in its maintenance slot. It is on hold until the rollout "
        "is resumed; you will then be sent its new date."
    )
    try:
        await record_move(request, UpdateStatus.DEFERRED, PAUSE, after, message=message, now=now)
    except DomainError:
        return False  # staff moved it at the same moment: left as it now is
    return True


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
