"""What a live event shows of its request (resolvers/live/events.py): built from the record alone
or from the row overlaid with the record, each a copy of its own that leaves the row as it was."""

from __future__ import annotations

from datetime import UTC, datetime

from infra.bus.records import EventRecord
from models.enums import EventType, UpdateKind, UpdateStatus
from models.events import ProgressReport, UpdateRequestChanged
from models.tables import UpdateRequest
from resolvers.live.events import live_event

AT = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)


def moved(request_id: int, status: UpdateStatus, message: str) -> EventRecord:
    event = UpdateRequestChanged(
        EventType.STATUS_CHANGED, request_id, 3, status, AT, sequence=4,
        from_status=UpdateStatus.TO_BE_SCHEDULED, message=message,
    )  # fmt: skip
    return EventRecord("1796157956415-0", event)


def test_a_record_alone_gives_the_request_as_far_as_it_tells() -> None:
    first = live_event(moved(7, UpdateStatus.PENDING_INPUT, "Waiting for you."), None, AT)
    second = live_event(moved(8, UpdateStatus.SCHEDULED, "Booked."), None, AT)
    assert first is not None and second is not None
    shown = first.update_request
    assert (shown.id, shown.district_id, shown.status, shown.status_message) == (
        7, 3, UpdateStatus.PENDING_INPUT, "Waiting for you.",
    )  # fmt: skip
    assert shown.kind is None and shown.progress_percent is None  # what the record does not carry
    assert shown is not second.update_request and second.update_request.id == 8
    assert isinstance(shown, UpdateRequest) and not shown._saved_in_db


def test_the_row_overlaid_with_the_record_is_a_copy() -> None:
    row = UpdateRequest(
        id=7, district_id=3, environment_id=2, kind=UpdateKind.VERSION_UPDATE,
        status=UpdateStatus.IN_PROGRESS, status_message="Running.", target_version="Campus.2436.1",
        progress_percent=10,
    )  # fmt: skip
    report = ProgressReport(60, "copy_data", "Copying", AT)
    record = EventRecord(
        "1796157956415-1",
        UpdateRequestChanged(EventType.PROGRESS, 7, 3, UpdateStatus.IN_PROGRESS, AT, report, sequence=5),
    )
    event = live_event(record, row, AT)
    assert event is not None
    shown = event.update_request
    assert (shown.progress_percent, shown.progress_step) == (60, "copy_data")
    assert shown.target_version == "Campus.2436.1"
    assert shown.status_message == "Running."  # a PROGRESS is no move: the row's message stays
    assert (row.progress_percent, row.progress_step) == (10, None)  # the row itself is untouched
    later = live_event(moved(7, UpdateStatus.COMPLETED, "Done."), row, AT)
    assert later is not None and later.update_request.status_message == "Done."
    assert later.update_request.progress_percent is None and row.status is UpdateStatus.IN_PROGRESS
