"""The one way a request changes status: a compare-and-set on its current status plus a history
row, inside the caller's transaction. Of two actors racing for one request exactly one wins; the
other gets INVALID_TRANSITION. The event and the mails it causes leave after the commit."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from models import sql
from models.access import Actor
from models.enums import EventType, UpdateStatus
from models.errors import invalid_transition
from models.events import AfterCommit, UpdateRequestChanged
from models.lifecycle import check_move
from models.requests.outbox import NOTIFYING_STATUSES, queue_notices
from models.requests.queries import NEVER_LISTED, Site, stored_progress
from models.tables import StatusChange, UpdateRequest


async def record_move(
    request: UpdateRequest,
    target: UpdateStatus,
    actor: Actor,
    after: AfterCommit,
    *,
    now: datetime,
    message: str | None = None,
    override_recorded: bool = False,
    site: Site | None = None,
    where: Mapping[str, Any] | None = None,
    notify: bool = True,
    **changes: Any,
) -> UpdateRequest:
    """Compare-and-set `request` from its loaded status to `target` and write the history row.

    Must run inside a transaction. `changes` are further columns written by the same UPDATE (the
    staff-only `internal_detail` belongs to one move, like the message: cleared unless given);
    `where` adds conditions to the compare-and-set (a worker's lease token); `site`, when the
    caller has it, saves the mail composer reading district and environment. Without `notify`
    the move's mail (and calendar message) is not written: the caller has nothing true to say.
    """
    source = request.status
    check_move(source, target, actor.mover, message)
    changes.setdefault("internal_detail", None)
    if source is UpdateStatus.UNABLE_TO_COMPLETE:
        # A failure staff accepted (by resuming its rollout) is accepted as it stands: once the
        # request leaves it (a retry), a later failure of it is a new one for the error budget.
        changes.setdefault("failure_accepted", False)
    # The history sequence is part of the compare-and-set: the move it numbers is this one.
    sequence = request.history_seq + 1
    # The compare-and-set and its history row: one round trip on PostgreSQL (models/sql.py).
    updated = await sql.update_and_insert(
        UpdateRequest,
        {
            "id": request.id,
            "status": source,
            "history_seq": request.history_seq,
            "deleted_at": None,
            **(where or {}),
        },
        {"status": target, "status_message": message, "updated_at": now, "history_seq": sequence, **changes},
        StatusChange,
        {
            "update_request_id": request.id,
            "from_status": source,
            "to_status": target,
            "at": now,
            "by_id": actor.account_id,
            "actor": actor.mover.value,
            "message": message,
            "window_override": override_recorded,
        },
    )
    if updated != 1:
        current = await UpdateRequest.filter(id=request.id).values_list("status", flat=True)
        raise invalid_transition(str(current[0]) if current else source.value, target.value)
    request.status = target
    request.status_message = message
    request.history_seq = sequence
    for name, value in changes.items():
        if not isinstance(value, sql.COMPUTED):  # the database's value: unknown here
            setattr(request, name, value)
    after.events.append(move_event(request, source, now, message))
    if notify and target in NOTIFYING_STATUSES:
        after.notification_ids.extend(await queue_notices(request, NOTIFYING_STATUSES[target], message, site))
    return request


def move_event(
    request: UpdateRequest, source: UpdateStatus | None, at: datetime, message: str | None
) -> UpdateRequestChanged:
    """The record of the request's latest move (from `source` to its status, numbered by its
    history sequence; no `source`: its creation), as its commit announces it and as
    `models.requests.announced` rebuilds it when that announcement was lost."""
    if source is None:
        kind = EventType.CREATED
    else:
        kind = EventType.REMOVED if request.status in NEVER_LISTED else EventType.STATUS_CHANGED
    return UpdateRequestChanged(
        kind,
        request.id,
        request.district_id,
        request.status,
        at,
        stored_progress(request),
        source,
        request.history_seq,
        message,
    )


def delete_event(request: UpdateRequest) -> UpdateRequestChanged:
    """The record of the request's delete (no move: it follows the latest move), as the delete
    announces it and as `models.requests.announced` rebuilds it when that announcement was lost."""
    assert request.deleted_at is not None, "only a deleted request has a delete's record"
    return UpdateRequestChanged(
        EventType.REMOVED, request.id, request.district_id, request.status, request.deleted_at,
        stored_progress(request), sequence=request.history_seq,
    )  # fmt: skip


def no_progress() -> dict[str, Any]:
    """Columns that clear a request's stored progress."""
    return {"progress_percent": None, "progress_step": None, "progress_message": None, "progress_at": None}
