"""The event wire format: one `UpdateRequestChanged` as a compact JSON document."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from models.enums import EventType, UpdateStatus
from models.events import ProgressReport, UpdateRequestChanged

#: Members by value, looked up once per record field (calling the enum costs several times more;
#: it still answers an unknown value, with its error).
_EVENT_TYPES = {member.value: member for member in EventType}
_STATUSES = {member.value: member for member in UpdateStatus}


def _status(value: Any) -> UpdateStatus:
    member = _STATUSES.get(value) if isinstance(value, str) else None
    return member if member is not None else UpdateStatus(value)


def _event_type(value: Any) -> EventType:
    member = _EVENT_TYPES.get(value) if isinstance(value, str) else None
    return member if member is not None else EventType(value)


def event_to_json(event: UpdateRequestChanged) -> str:
    progress = event.progress
    document: dict[str, Any] = {
        "type": event.type.value,
        "updateRequestId": event.update_request_id,
        "districtId": event.district_id,
        "status": event.status.value,
        "at": event.at.isoformat(),
        "progress": None
        if progress is None
        else {
            "percent": progress.percent,
            "step": progress.step,
            "message": progress.message,
            "at": progress.at.isoformat(),
        },
    }
    if event.from_status is not None:
        document["from"] = event.from_status.value
    if event.sequence is not None:
        document["seq"] = event.sequence
    if event.message is not None:
        document["message"] = event.message
    return orjson.dumps(document).decode()


def event_from_json(text: str | bytes) -> UpdateRequestChanged:
    data: dict[str, Any] = orjson.loads(text)
    raw_progress = data.get("progress")
    progress = (
        None
        if raw_progress is None
        else ProgressReport(
            int(raw_progress["percent"]),
            str(raw_progress["step"]),
            raw_progress.get("message"),
            datetime.fromisoformat(raw_progress["at"]),
        )
    )
    source = data.get("from")
    sequence = data.get("seq")
    return UpdateRequestChanged(
        _event_type(data["type"]),
        int(data["updateRequestId"]),
        int(data["districtId"]),
        _status(data["status"]),
        datetime.fromisoformat(data["at"]),
        progress,
        _status(source) if source is not None else None,
        int(sequence) if sequence is not None else None,
        data.get("message"),
    )
