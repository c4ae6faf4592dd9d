"""What one subscription event shows (`LiveEvent`, the root of `UpdateRequestEvent`), made from
an event record: the move and progress the record carries, and the request row.

The record carries the request's id, district, status, status message (moves) and progress, so
a selection of only those (`RECORD_FIELDS`) is answered from the record alone; any other field
needs the row, read once per event per process and overlaid with what the record says, so that
`updateRequest.status` is the status of this event even when the row has moved on since.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from infra.bus import EventRecord
from models.enums import EventType, UpdateStatus
from models.events import ProgressReport, UpdateRequestChanged
from models.requests.queries import is_removed, stored_progress
from models.tables import UpdateRequest

#: Fields of the GraphQL `UpdateRequest` that every record answers without the row.
RECORD_FIELDS = frozenset({"__typename", "id", "status", "district", "progress"})
#: ... and that a move's record answers too.
MOVE_FIELDS = RECORD_FIELDS | {"statusMessage"}


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One event for subscribers: the root value `UpdateRequestEvent` is rendered from."""

    type: EventType
    update_request: UpdateRequest
    progress: ProgressReport | None
    at: datetime
    #: The public cursor: resuming after it delivers what came after this event.
    cursor: str
    from_status: UpdateStatus | None = None
    to_status: UpdateStatus | None = None


def needs_row(record: EventRecord, fields: frozenset[str] | None) -> bool:
    """Whether a selection of UpdateRequest `fields` (None: unknown) needs the row for `record`."""
    if record.replaced or fields is None:
        return True
    return not fields <= (MOVE_FIELDS if record.event.is_move else RECORD_FIELDS)


def _progress_columns(progress: ProgressReport | None) -> dict[str, object]:
    if progress is None:
        return {
            "progress_percent": None,
            "progress_step": None,
            "progress_message": None,
            "progress_at": None,
        }
    return {
        "progress_percent": progress.percent,
        "progress_step": progress.step,
        "progress_message": progress.message,
        "progress_at": progress.at,
    }


#: The request as the model's constructor makes it from nothing, once per process: every event
#: with a record-only selection starts from a copy (the constructor costs ~50 µs an event, most of
#: the server's share of the commit -> subscriber latency after rendering, BENCHMARKS.md).
_blank: UpdateRequest | None = None


def _with_columns(row: UpdateRequest, columns: dict[str, object]) -> UpdateRequest:
    """A copy of `row` with these plain columns set (never saved). Its attributes are copied as
    one dict: the model's own `__setattr__` only checks relations, and `copy.copy` with a set per
    column cost three times as much."""
    shown = object.__new__(type(row))
    attributes = row.__dict__.copy()
    attributes.update(columns)
    attributes["_await_when_save"] = {}
    object.__setattr__(shown, "__dict__", attributes)
    return shown


def record_row(event: UpdateRequestChanged) -> UpdateRequest:
    """The request as far as the record tells it (never saved; other columns at their defaults)."""
    global _blank
    if _blank is None:
        _blank = UpdateRequest()
    columns = _progress_columns(event.progress)
    columns.update(
        id=event.update_request_id,
        district_id=event.district_id,
        status=event.status,
        status_message=event.message,
    )
    return _with_columns(_blank, columns)


def overlaid(row: UpdateRequest, event: UpdateRequestChanged) -> UpdateRequest:
    """A copy of `row` with the status, message and progress of `event`."""
    columns = _progress_columns(event.progress)
    columns["status"] = event.status
    if event.is_move:
        columns["status_message"] = event.message
    return _with_columns(row, columns)


def live_event(
    record: EventRecord, row: UpdateRequest | None, taken: datetime, *, single: bool = False
) -> LiveEvent | None:
    """The event a record shows; `row` is the request as read after it (required when the record
    was `replaced`: then a SNAPSHOT, see `snapshot_event`). None when the request is gone."""
    event = record.event
    if record.replaced:
        return snapshot_event(row, record.cursor, taken, single=single) if row is not None else None
    shown = overlaid(row, event) if row is not None else record_row(event)
    return LiveEvent(
        event.type,
        shown,
        event.progress,
        event.at,
        record.cursor,
        event.from_status,
        event.status if event.is_move else None,
    )


def snapshot_event(row: UpdateRequest, cursor: str, taken: datetime, *, single: bool = False) -> LiveEvent:
    """The request as it is now: SNAPSHOT, or REMOVED when it is gone from lists (deleted or
    cancelled; `single`: a subscription to this one request, for which only deleted is gone)."""
    gone = row.deleted_at is not None if single else is_removed(row)
    kind = EventType.REMOVED if gone else EventType.SNAPSHOT
    return LiveEvent(kind, row, stored_progress(row), taken, cursor)


async def rows_of(request_ids: Iterable[int]) -> dict[int, UpdateRequest]:
    """The rows of these requests (deleted and cancelled ones too), in one statement."""
    ids = sorted(set(request_ids))
    if not ids:
        return {}
    return {row.id: row for row in await UpdateRequest.filter(id__in=ids)}
