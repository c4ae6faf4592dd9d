"""A rollout's row: loading it, locking it, naming it to people, and telling subscribers that it
changed.

Locking: a conditional UPDATE of the rollout row (`change`) is how every change of a rollout and every
start of one of its requests is serialized, on PostgreSQL (the second UPDATE waits for the first's
row lock, then re-reads the row) and on SQLite (one writer at a time). What a transaction reads
after taking it (its requests' statuses) was committed by whoever held it before: counts read
under the lock are never stale. No SELECT FOR UPDATE; the lock is always taken before the rows of
the rollout's requests, in every path, so transactions never wait on each other in a circle.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from models.enums import EventType, RolloutStatus, UpdateStatus
from models.errors import not_found
from models.events import AfterCommit, UpdateRequestChanged
from models.requests.queries import NEVER_LISTED
from models.tables import GroupRollout, UpdateRequest

GROUP_ROLLOUT = "group rollout"


async def get_rollout(rollout_id: int) -> GroupRollout:
    """The rollout with its group, or NOT_FOUND (staff paths; visibility is `visibility`)."""
    row = await GroupRollout.filter(id=rollout_id).select_related("update_group").first()
    if row is None:
        raise not_found(GROUP_ROLLOUT)
    return row


async def change(rollout_id: int, sources: Collection[RolloutStatus], **changes: Any) -> bool:
    """Compare-and-set of the rollout row: write `changes` if its stored status is one of `sources`.
    True: done, and the row stays locked until the caller's transaction ends. Writing the status it
    already has (`change(id, {RUNNING}, status=RUNNING)`) is how a reader takes the lock."""
    updated = await GroupRollout.filter(id=rollout_id, status__in=list(sources)).update(**changes)
    return updated == 1


def describe(rollout: GroupRollout, group_name: str) -> str:
    """'the update of North State's staging sites to Campus.2439.1' (for people, no ids)."""
    return (
        f"the update of {group_name}'s {rollout.environment.value.lower()} sites to {rollout.target_version}"
    )


def capitalized(text: str) -> str:
    """The first letter raised, the rest as it is (names keep their capitals)."""
    return text[:1].upper() + text[1:]


async def announce(rollout_id: int, after: AfterCommit, now: datetime, moved: Collection[int] = ()) -> None:
    """Subscribers see a rollout's own change through its requests: each request the change did not
    move (a move has its own event) gets a SNAPSHOT event, the request as it now is, whose `rollout`
    field carries the new status, and its `updated_at` (so a subscriber resynchronising after a gap
    is sent it too). Cancelled and deleted requests are gone from view and get none."""
    rows = (
        await UpdateRequest.filter(rollout_id=rollout_id, deleted_at__isnull=True)
        .exclude(status__in=list(NEVER_LISTED))
        .exclude(id__in=list(moved) or [0])
        .order_by("id")
        .values_list("id", "district_id", "status")
    )
    if rows:
        await UpdateRequest.filter(id__in=[row[0] for row in rows]).update(updated_at=now)
    for request_id, district_id, status in rows:
        after.events.append(
            UpdateRequestChanged(
                type=EventType.SNAPSHOT,
                update_request_id=request_id,
                district_id=district_id,
                status=UpdateStatus(status),
                at=now,
            )
        )
