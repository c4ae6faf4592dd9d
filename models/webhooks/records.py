"""The event record a webhook delivery carries: what the event stream holds for one change.

The dispatcher turns each record it reads from the stream into one of these and hands it to
`models.webhooks.fanout.fan_out`; nothing here depends on how the stream stores it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from models.enums import EventType, UpdateStatus
from models.events import ProgressReport

#: What webhooks carry: every change. A SNAPSHOT is a subscriber's catch-up, not a change.
CARRIED_TYPES = frozenset(
    {EventType.CREATED, EventType.STATUS_CHANGED, EventType.PROGRESS, EventType.REMOVED}
)


@dataclass(frozen=True)
class EventRecord:
    type: EventType
    #: Where the record sits in the stream; unique per record, so a record fanned out twice (a
    #: dispatcher restarted before it stored its position) makes no second delivery.
    cursor: str
    update_request_id: int
    district_id: int
    #: The request's status after the change.
    to_status: UpdateStatus
    at: datetime
    #: The status it moved from (None for CREATED, PROGRESS and the REMOVED of a delete).
    from_status: UpdateStatus | None = None
    #: PROGRESS: the report; otherwise the progress the request kept at that moment.
    progress: ProgressReport | None = None
    #: The request's history sequence after the change.
    sequence: int | None = None
    #: The move's message, if it had one.
    message: str | None = None

    @property
    def is_move(self) -> bool:
        """CREATED or a status change (not PROGRESS, not the REMOVED of a delete)."""
        return self.type is EventType.CREATED or self.from_status is not None

    @property
    def carried(self) -> bool:
        return self.type in CARRIED_TYPES
