"""The JSON body of a delivery: the event record and the request's public fields, named as the
GraphQL API names them (`updateRequestEvents` shows a subscriber the same). Internal fields (the
runbook checkpoint, attempts, idempotency keys, database URLs, staff notes) are never included.

The body is rendered once per event, when the event is fanned out, and every attempt of every
endpoint sends those same bytes. The request's `status` and a move's `statusMessage` are the
event's, as subscribers see them; its other fields are the row as read at fan-out.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from models.events import ProgressReport
from models.ids import encode_global_id
from models.tables import Account, District, Environment, UpdateRequest
from models.webhooks.records import EventRecord

#: Bumped when a field changes meaning or goes away (adding fields keeps the version).
PAYLOAD_VERSION = 1


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _progress(report: ProgressReport | None) -> dict[str, Any] | None:
    if report is None:
        return None
    return {"percent": report.percent, "step": report.step, "message": report.message, "at": _time(report.at)}


def request_fields(
    request: UpdateRequest, district: District, environment: Environment, requested_by: Account | None
) -> dict[str, Any]:
    """The request as a subscriber sees it (no staff-only or internal field)."""
    return {
        "id": encode_global_id("UpdateRequest", request.id),
        "kind": request.kind.value,
        "status": request.status.value,
        "district": {"id": encode_global_id("District", district.id), "name": district.name},
        "environment": {
            "id": encode_global_id("Environment", environment.id),
            "kind": environment.kind.value,
        },
        "targetVersion": request.target_version,
        "preferredStart": _time(request.preferred_start),
        "scheduledStart": _time(request.scheduled_start),
        "startedAt": _time(request.started_at),
        "completedAt": _time(request.completed_at),
        "createdAt": _time(request.created_at),
        "deletedAt": _time(request.deleted_at),
        "automatic": request.automatic,
        "notes": request.notes,
        "statusMessage": request.status_message,
        "requestedBy": None
        if requested_by is None
        else {"id": encode_global_id("Account", requested_by.id), "name": requested_by.name},
    }


def render_body(
    record: EventRecord,
    request: UpdateRequest,
    district: District,
    environment: Environment,
    requested_by: Account | None,
) -> str:
    """The delivery body, compact JSON (the bytes that are signed and sent). As in a subscriber's
    event, `updateRequest.status` (and a move's `statusMessage`) are the event's own: the row may
    have moved on by the time the dispatcher reads the record."""
    shown = request_fields(request, district, environment, requested_by)
    shown["status"] = record.to_status.value
    if record.is_move:
        shown["statusMessage"] = record.message
    body = {
        "version": PAYLOAD_VERSION,
        "type": record.type.value,
        "cursor": record.cursor,
        "at": _time(record.at),
        "fromStatus": None if record.from_status is None else record.from_status.value,
        "toStatus": record.to_status.value,
        "message": record.message,
        "progress": _progress(record.progress),
        "updateRequest": shown,
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)
