"""Withdrawing work: cancel a request that has not begun, delete (hide) a completed one. Whether
the actor may is asked of `models.lifecycle`; the row and its history stay for the audit, and a
delete records who and when.

Cancelling a request that superseded others undoes the supersession: each request it superseded
returns to TO_BE_SCHEDULED (a system move saying why). Those it superseded in turn stay under it,
now that it is open again, so a chain unwinds one link per cancel and nothing is left waiting on
a cancelled request."""

from __future__ import annotations

from datetime import datetime

from tortoise.transactions import in_transaction

from models.access import SYSTEM, Actor, require_writer
from models.clock import utcnow
from models.enums import UpdateStatus
from models.errors import DomainError, not_found
from models.events import AfterCommit, deliver
from models.lifecycle import DELETABLE_STATUSES, check_cancel, check_delete, district_in_rollout_group
from models.requests.moves import delete_event, record_move
from models.requests.queries import get_visible_request
from models.tables import District, GroupRollout, UpdateRequest


async def cancel_update_request(actor: Actor, request_id: int, now: datetime | None = None) -> UpdateRequest:
    """Cancel a request that has not been pulled from the queue (TO_BE_SCHEDULED or SCHEDULED)."""
    require_writer(actor)
    now = now or utcnow()
    after = AfterCommit()
    async with in_transaction():
        request = await get_visible_request(actor, request_id)
        # Take turns with new requests for the district (create_request locks its row too): one
        # asked for while this cancel returns the requests it superseded finds them back in the
        # queue and supersedes them anew. Then read the request again, locked, so that a system
        # move made since the first read (a re-slot keeps it SCHEDULED) does not refuse the cancel.
        district = await District.filter(id=request.district_id).select_for_update().first()
        request = await get_visible_request(actor, request_id, for_update=True)
        check_cancel(actor, request, in_rollout_group=await _in_rollout_group(request, district))
        await record_move(request, UpdateStatus.CANCELLED, actor, after, now=now)
        await return_superseded(request, after, now)
    await deliver(after)
    return request


async def _in_rollout_group(request: UpdateRequest, district: District | None) -> bool:
    """Whether the request is part of a rollout whose group its district is in now."""
    if request.rollout_id is None or district is None:
        return False
    rollout = await GroupRollout.get_or_none(id=request.rollout_id)
    return rollout is not None and district_in_rollout_group(
        district.update_group_id, rollout.update_group_id
    )


async def return_superseded(cancelled: UpdateRequest, after: AfterCommit, now: datetime) -> list[int]:
    """Every request waiting to be completed under `cancelled` goes back to TO_BE_SCHEDULED.
    Runs after the cancel's compare-and-set, so rows are locked newer first, as completion does."""
    returned = []
    rows = await UpdateRequest.filter(
        superseded_by_id=cancelled.id, status=UpdateStatus.NEW_VERSION_REQUESTED, deleted_at__isnull=True
    ).order_by("id")
    message = (
        f"The newer request for {cancelled.target_version} was cancelled, "
        "so this update is back in the queue to be scheduled."
    )
    for older in rows:
        try:
            await record_move(
                older,
                UpdateStatus.TO_BE_SCHEDULED,
                SYSTEM,
                after,
                message=message,
                now=now,
                superseded_by_id=None,
            )
        except DomainError:
            # Staff returned it at the same moment (the read above did not wait for their move):
            # it is back in the queue already, and the cancel stands.
            continue
        returned.append(older.id)
    return returned


async def delete_update_request(actor: Actor, request_id: int, now: datetime | None = None) -> UpdateRequest:
    """Hide a completed request from lists; the row and its history stay for the audit."""
    require_writer(actor)
    now = now or utcnow()
    request = await get_visible_request(actor, request_id)
    check_delete(actor, request)
    updated = await UpdateRequest.filter(
        id=request.id, status__in=list(DELETABLE_STATUSES), deleted_at__isnull=True
    ).update(deleted_at=now, deleted_by_id=actor.account_id)
    if updated != 1:
        raise not_found("update request")
    request.deleted_at = now
    request.deleted_by_id = actor.account_id
    await deliver(AfterCommit(events=[delete_event(request)]))
    return request
