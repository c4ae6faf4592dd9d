"""Withdrawing work: cancel a request that has not begun, delete (hide) a completed one. Whether
the actor may is asked of `models.lifecycle`; the row and its history stay for the audit."""

from __future__ import annotations

from datetime import datetime

from tortoise.transactions import in_transaction

from models.access import Actor, require_writer
from models.clock import utcnow
from models.enums import EventType, UpdateStatus
from models.errors import not_found
from models.events import AfterCommit, UpdateRequestChanged, deliver
from models.lifecycle import DELETABLE_STATUSES, check_cancel, check_delete
from models.requests.moves import record_move
from models.requests.queries import get_visible_request, stored_progress
from models.tables import UpdateRequest


async def cancel_update_request(actor: Actor, request_id: int, now: datetime | None = None) -> UpdateRequest:
    """Cancel a request that has not been pulled from the queue (TO_BE_SCHEDULED or SCHEDULED)."""
    require_writer(actor)
    now = now or utcnow()
    after = AfterCommit()
    async with in_transaction():
        request = await get_visible_request(actor, request_id)
        check_cancel(actor, request)
        await record_move(request, UpdateStatus.CANCELLED, actor, after, now=now)
    await deliver(after)
    return request


async def delete_update_request(actor: Actor, request_id: int, now: datetime | None = None) -> UpdateRequest:
    """Hide a completed request from lists; the row and its history stay for the audit."""
    require_writer(actor)
    now = now or utcnow()
    request = await get_visible_request(actor, request_id)
    check_delete(actor, request)
    updated = await UpdateRequest.filter(
        id=request.id, status__in=list(DELETABLE_STATUSES), deleted_at__isnull=True
    ).update(deleted_at=now)
    if updated != 1:
        raise not_found("update request")
    request.deleted_at = now
    event = UpdateRequestChanged(
        EventType.REMOVED, request.id, request.district_id, request.status, now,
        stored_progress(request), sequence=request.history_seq,
    )  # fmt: skip
    await deliver(AfterCommit(events=[event]))
    return request
