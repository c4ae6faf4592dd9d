"""Request ids: the id of the API request a log line or a job stems from.

The HTTP middleware binds it to the log context (structlog contextvars), so every line a request
causes carries it; jobs enqueued meanwhile carry it on into the workers' log lines.
"""

from __future__ import annotations

import re
import uuid

import structlog

REQUEST_ID_HEADER = "x-request-id"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def current_request_id() -> str | None:
    value = structlog.contextvars.get_contextvars().get("request_id")
    return str(value) if value is not None else None


def new_request_id(incoming: str | None = None) -> str:
    """The caller's id when it is sane, else a new one."""
    if incoming and _SANE_REQUEST_ID.match(incoming):
        return incoming
    return uuid.uuid4().hex
