"""What the webhook dispatcher makes of the stream's records: the record a delivery carries, and
how many times in a row one record failed to fan out (an unreadable record is skipped after
UNREADABLE_ATTEMPTS, `workers.webhook_dispatch`)."""

from __future__ import annotations

from infra.bus import EventRecord, EventStream
from models.webhooks.fanout import candidates_by_district
from models.webhooks.records import EventRecord as WebhookRecord

#: A record whose fan-out fails this many times in a row while the database and the stream both
#: answer is skipped (logged, counted as a gap): one unreadable record must not hold back every
#: webhook behind it. A failure while either is away is retried for as long as it takes.
UNREADABLE_ATTEMPTS = 3


def webhook_record(record: EventRecord) -> WebhookRecord:
    """The stream's record as a delivery carries it. A record stored as `replaced` (its
    predecessor never reached the stream) keeps its type: a webhook carries every change it has."""
    event = record.event
    return WebhookRecord(
        type=event.type,
        cursor=record.cursor,
        update_request_id=event.update_request_id,
        district_id=event.district_id,
        to_status=event.status,
        at=event.at,
        from_status=event.from_status,
        progress=event.progress,
        sequence=event.sequence,
        message=event.message,
    )


class FailuresInARow:
    """The record whose fan-out failed last, and how many times in a row."""

    __slots__ = ("record_id", "times")

    def __init__(self) -> None:
        self.record_id: str | None = None
        self.times = 0

    def add(self, record_id: str) -> int:
        """One more failure of `record_id`; how many in a row (another record starts at 1)."""
        self.times = self.times + 1 if record_id == self.record_id else 1
        self.record_id = record_id
        return self.times

    def clear(self) -> None:
        self.record_id, self.times = None, 0


async def answering(stream: EventStream) -> bool:
    """Whether the database and `stream` both answer now (then a record that keeps failing is the
    record's fault, not theirs)."""
    try:
        await candidates_by_district(set())  # one statement on the database
        await stream.last_id()
    except Exception:
        return False
    return True
