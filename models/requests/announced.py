"""Rebuilding the announcement of a request's latest move, or of its delete, for when the
original never reached the event stream.

A move is committed first and announced after (`models.events.deliver`): a process that dies in
between, or a writer that cannot reach Redis while everyone else can, leaves subscribers showing
the request's previous status with nothing to tell them otherwise (no later record, no outage
seen by their reader). The database has every move, numbered (`history_seq`), so the record of
the latest one can be made again, equal to the lost one, and the stream's own ordering decides
whether it is still missing (`infra.bus.StreamBus.announce_missing`). A delete is no move, but
its REMOVED is what takes a finished request off every live list, and is rebuilt the same way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from models.enums import EventType
from models.events import UpdateRequestChanged
from models.requests.moves import delete_event, move_event
from models.requests.queries import NEVER_LISTED, stored_progress
from models.tables import StatusChange, UpdateRequest

#: Requests looked at in one call at most (the oldest change first; the caller goes on after).
ANNOUNCED_BATCH = 500


#: Where a look goes on after a cut list: the last (change time, request id) it took.
Position = tuple[datetime, int]


def _page(
    column: str, since: datetime | Position, until: datetime, limit: int, **kept: object
) -> tuple[QuerySet[UpdateRequest], datetime]:
    """The requests (`kept` by these filters) whose `column` is after `since` (a time, or the
    (time, id) a cut page ended at: ties go on by id) up to `until`, oldest first, one page; and
    the time it starts after."""
    query = UpdateRequest.filter(**{f"{column}__lte": until}, **kept)
    if isinstance(since, tuple):
        floor, request_id = since
        later: dict[str, Any] = {f"{column}__gt": floor}
        tied: dict[str, Any] = {column: floor, "id__gt": request_id}
        query = query.filter(Q(**later) | Q(**tied))
    else:
        floor = since
        query = query.filter(**{f"{column}__gt": since})
    return query.order_by(column, "id").limit(limit), floor


async def moved_between(
    since: datetime | Position, until: datetime, limit: int = ANNOUNCED_BATCH
) -> tuple[list[UpdateRequestChanged], Position | None]:
    """The latest move's record of every request (not deleted: its REMOVED is no move) changed
    after `since` (a time, or a position a cut list ended at) up to `until`, oldest change first,
    at most `limit` of them; and, when the limit cut the list short, where to go on from."""
    query, floor = _page("updated_at", since, until, limit, history_seq__gt=0, deleted_at=None)
    rows = list(await query)
    if not rows:
        return [], None
    # A move stamps its history row and the request's `updated_at` with one time: a request whose
    # latest move is older than the look (changed since in other ways) had that move looked at by
    # an earlier look, so only the history since the look's start is read.
    latest: dict[int, StatusChange] = {}
    history = StatusChange.filter(update_request_id__in=[row.id for row in rows], at__gte=floor)
    history = history.order_by("-at", "-id")
    for row_change in await history:
        latest.setdefault(row_change.update_request_id, row_change)
    events = [
        move_event(row, change.from_status, change.at, change.message)
        for row in rows
        if (change := latest.get(row.id)) is not None and change.to_status == row.status
    ]
    return events, (rows[-1].updated_at, rows[-1].id) if len(rows) == limit else None


async def deleted_between(
    since: datetime | Position, until: datetime, limit: int = ANNOUNCED_BATCH
) -> tuple[list[UpdateRequestChanged], Position | None]:
    """The delete's record of every request deleted after `since` (a time, or where a cut list
    ended) up to `until`, oldest first, at most `limit`; and where to go on from when cut."""
    query, _ = _page("deleted_at", since, until, limit)
    rows = list(await query)
    if not rows:
        return [], None
    last = rows[-1]
    assert last.deleted_at is not None
    return [delete_event(row) for row in rows], (last.deleted_at, last.id) if len(rows) == limit else None


async def history_since(
    since: datetime, after_id: int = 0, limit: int = ANNOUNCED_BATCH
) -> tuple[list[UpdateRequestChanged], int | None]:
    """The record of every move made after `since`, each as its commit announced it, of the
    requests changed since (by id after `after_id`, at most `limit` of them; each request's moves
    in its history's order); and, when the limit cut the list short, the id to go on after. For a
    stream that lost everything since then (the embedded one, gone with its process)."""
    rows = list(await UpdateRequest.filter(updated_at__gt=since, id__gt=after_id).order_by("id").limit(limit))
    if not rows:
        return [], None
    requests = {row.id: row for row in rows}
    history = StatusChange.filter(update_request_id__in=list(requests)).order_by("update_request_id", "id")
    events, sequences = [], dict.fromkeys(requests, 0)
    for change in await history:
        sequences[change.update_request_id] += 1  # a move's sequence is its place in the history
        if change.at <= since:
            continue
        request, sequence = requests[change.update_request_id], sequences[change.update_request_id]
        if change.from_status is None:
            kind = EventType.CREATED
        else:
            kind = EventType.REMOVED if change.to_status in NEVER_LISTED else EventType.STATUS_CHANGED
        progress = stored_progress(request) if sequence == request.history_seq else None
        event = UpdateRequestChanged(
            kind, request.id, request.district_id, change.to_status, change.at, progress,
            change.from_status, sequence, change.message,
        )  # fmt: skip
        events.append(event)
    return events, rows[-1].id if len(rows) == limit else None
