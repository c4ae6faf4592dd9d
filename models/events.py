"""Domain events and the hooks that carry them out of the domain after each commit.

The domain knows nothing of Redis or dramatiq: the wiring registers sinks here (the event bus,
the job queue, the mail queue). Sinks run only after the transaction committed, so a subscriber
never hears of a change that was rolled back; a lost event never loses state, the database has it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from models.enums import EventType, UpdateStatus

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProgressReport:
    percent: int
    step: str
    message: str | None
    at: datetime


@dataclass(frozen=True)
class UpdateRequestChanged:
    """What happened to one request: the event record. It carries what subscribers show most
    (the move, the progress at that moment, the history sequence); the database stays the truth.

    A *move* (CREATED, or a status change with its history row) has `from_status` (None for
    CREATED) and advances `sequence`; PROGRESS and the REMOVED of a delete are no moves and carry
    the sequence they follow. `sequence` None: an event outside any order (tests, old producers).
    """

    type: EventType
    update_request_id: int
    district_id: int
    #: The request's status after the change.
    status: UpdateStatus
    at: datetime
    #: PROGRESS: the report; any other event: the progress the request kept at that moment.
    progress: ProgressReport | None = None
    from_status: UpdateStatus | None = None
    #: The request's history sequence after the change (its number of history rows).
    sequence: int | None = None
    #: The move's message (the request's status message from then on).
    message: str | None = None

    @property
    def is_move(self) -> bool:
        return self.type is EventType.CREATED or self.from_status is not None

    @property
    def is_delete(self) -> bool:
        """The REMOVED of a delete (a cancel's REMOVED is a move)."""
        return self.type is EventType.REMOVED and self.from_status is None


@dataclass
class AfterCommit:
    """What one domain operation wants the outside world to hear once its transaction committed."""

    events: list[UpdateRequestChanged] = field(default_factory=list)
    notification_ids: list[int] = field(default_factory=list)


EventSink = Callable[[UpdateRequestChanged], Awaitable[None]]
NotificationSink = Callable[[int], Awaitable[None]]

_event_sinks: list[EventSink] = []
_notification_sinks: list[NotificationSink] = []


def add_event_sink(sink: EventSink) -> None:
    _event_sinks.append(sink)


def remove_event_sink(sink: EventSink) -> None:
    if sink in _event_sinks:
        _event_sinks.remove(sink)


def add_notification_sink(sink: NotificationSink) -> None:
    _notification_sinks.append(sink)


def remove_notification_sink(sink: NotificationSink) -> None:
    if sink in _notification_sinks:
        _notification_sinks.remove(sink)


async def deliver(after: AfterCommit) -> None:
    """Hand events and pending mails to the registered sinks. A failing sink is logged, not raised:
    the change is committed and the outbox / history keep what a sink missed."""
    for event in after.events:
        for event_sink in list(_event_sinks):
            try:
                await event_sink(event)
            except Exception:
                logger.exception("event sink failed for request %s", event.update_request_id)
    for notification_id in after.notification_ids:
        for notification_sink in list(_notification_sinks):
            try:
                await notification_sink(notification_id)
            except Exception:
                logger.exception("notification sink failed for notification %s", notification_id)
