"""The event wire format: one `UpdateRequestChanged` as a JSON document."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from models.enums import EventType, UpdateStatus
from models.events import ProgressReport, UpdateRequestChanged


def event_to_json(event: UpdateRequestChanged) -> str:
    progress = event.progress
    return json.dumps(
        {
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
    )


def event_from_json(text: str | bytes) -> UpdateRequestChanged:
    data: dict[str, Any] = json.loads(text)
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
    return UpdateRequestChanged(
        EventType(data["type"]),
        int(data["updateRequestId"]),
        int(data["districtId"]),
        UpdateStatus(data["status"]),
        datetime.fromisoformat(data["at"]),
        progress,
    )
