"""The event wire format (infra/bus/wire.py): every event comes back as it went, and a record
with a value the domain does not know is refused as the enums refuse it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from infra.bus.wire import event_from_json, event_to_json
from models.enums import EventType, UpdateStatus
from models.events import ProgressReport, UpdateRequestChanged

AT = datetime(2026, 12, 2, 22, 40, 4, 123456, tzinfo=UTC)


@pytest.mark.parametrize("kind", list(EventType))
@pytest.mark.parametrize("status", list(UpdateStatus))
def test_every_event_type_and_status_comes_back_as_it_went(kind: EventType, status: UpdateStatus) -> None:
    event = UpdateRequestChanged(kind, 7, 3, status, AT)
    assert event_from_json(event_to_json(event)) == event


def test_progress_origin_sequence_and_message_come_back() -> None:
    event = UpdateRequestChanged(
        EventType.STATUS_CHANGED, 7, 3, UpdateStatus.IN_PROGRESS, AT,
        ProgressReport(42, "copy_data", "Copie \u00e9 4/10", AT), UpdateStatus.NOT_STARTED, 12, "Started",
    )  # fmt: skip
    text = event_to_json(event)
    assert event_from_json(text) == event
    assert event_from_json(text.encode()) == event
    assert ", " not in text and ": " not in text  # compact


@pytest.mark.parametrize(
    ("field", "value"), [("type", "EXPLODED"), ("status", "NOPE"), ("from", "NOPE"), ("status", 5)]
)
def test_a_value_the_domain_does_not_know_is_refused(field: str, value: object) -> None:
    event = UpdateRequestChanged(
        EventType.STATUS_CHANGED, 7, 3, UpdateStatus.SCHEDULED, AT, from_status=UpdateStatus.TO_BE_SCHEDULED
    )
    document = json.loads(event_to_json(event))
    document[field] = value
    with pytest.raises(ValueError):
        event_from_json(json.dumps(document))
