"""The scheduler's side: due SCHEDULED requests move to NOT_STARTED (a compare-and-set, so several
schedulers never dispatch one request twice), and jobs that were lost are claimed again."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

from tortoise.transactions import in_transaction

from models.access import DISPATCHER
from models.clock import utcnow
from models.enums import UpdateStatus
from models.errors import DomainError
from models.events import AfterCommit, deliver
from models.requests.moves import record_move
from models.tables import UpdateRequest


async def dispatch(request_id: int, now: datetime | None = None) -> bool:
    """Move one due SCHEDULED request to NOT_STARTED. False when another dispatcher won, or it is
    no longer due (rescheduled, cancelled)."""
    now = now or utcnow()
    after = AfterCommit()
    try:
        async with in_transaction():
            request = await UpdateRequest.get_or_none(id=request_id, deleted_at__isnull=True)
            if (
                request is None
                or request.status is not UpdateStatus.SCHEDULED
                or request.scheduled_start is None
                or request.scheduled_start > now
            ):
                return False
            await record_move(
                request, UpdateStatus.NOT_STARTED, DISPATCHER, after, now=now, dispatched_at=now
            )
    except DomainError:
        return False
    await deliver(after)
    return True


async def due_request_ids(now: datetime | None = None, limit: int = 100) -> list[int]:
    now = now or utcnow()
    ids = (
        await UpdateRequest.filter(
            status=UpdateStatus.SCHEDULED, scheduled_start__lte=now, deleted_at__isnull=True
        )
        .order_by("scheduled_start", "id")
        .limit(limit)
        .values_list("id", flat=True)
    )
    return cast(list[int], list(ids))


async def dispatch_due(now: datetime | None = None, limit: int = 100) -> list[int]:
    """One dispatcher pass: every due request this dispatcher won, in start order."""
    now = now or utcnow()
    return [request_id for request_id in await due_request_ids(now, limit) if await dispatch(request_id, now)]


async def reclaim_lost_jobs(
    stale_after: timedelta, now: datetime | None = None, limit: int = 100
) -> list[int]:
    """NOT_STARTED requests whose job nobody began within `stale_after`: claim them again (a
    compare-and-set on `dispatched_at`, so one scheduler re-enqueues each) and return their ids."""
    now = now or utcnow()
    cutoff = now - stale_after
    rows = await UpdateRequest.filter(
        status=UpdateStatus.NOT_STARTED, dispatched_at__lt=cutoff, deleted_at__isnull=True
    ).limit(limit)
    reclaimed = []
    for row in rows:
        won = await UpdateRequest.filter(
            id=row.id, status=UpdateStatus.NOT_STARTED, dispatched_at=row.dispatched_at
        ).update(dispatched_at=now)
        if won == 1:
            reclaimed.append(row.id)
    return reclaimed
