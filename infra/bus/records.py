"""Event records as the stream keeps them, their ids, and the public cursor that names one.

A record id is the stream's own id, ``"<milliseconds>-<n>"`` (Redis Streams' format; the embedded
stream makes the same). Clients only ever see it wrapped as an opaque cursor (`public_cursor`),
so the format may change without breaking them; `record_id_of` reads one back, None when the
text is not a cursor.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from models.events import UpdateRequestChanged

#: The position before every record: reading after it starts at the beginning of the stream.
STREAM_START = "0-0"
#: What a public cursor wraps (versioned, so that another format can come later).
CURSOR_PREFIX = "ev1:"
_RECORD_ID = re.compile(r"^(\d{1,15})-(\d{1,19})$")


@dataclass(frozen=True)
class EventRecord:
    """One event as the stream keeps it."""

    id: str
    event: UpdateRequestChanged
    #: Its predecessor in the request's history never came in time: readers show the request as
    #: it now is (a SNAPSHOT) instead of a move they cannot place.
    replaced: bool = False

    @property
    def cursor(self) -> str:
        return public_cursor(self.id)


def id_key(record_id: str) -> tuple[int, int]:
    """Sort key of a record id (ids compare as numbers, never as text)."""
    millis, _, number = record_id.partition("-")
    return int(millis), int(number or 0)


def id_time(record_id: str) -> datetime:
    """When the stream took the record (its id's milliseconds)."""
    return datetime.fromtimestamp(id_key(record_id)[0] / 1000, UTC)


def next_id(record_id: str) -> str:
    """The smallest id after `record_id` (an inclusive lower bound for "after it")."""
    millis, number = id_key(record_id)
    return f"{millis}-{number + 1}"


#: base64's URL-safe alphabet from the standard one (what `base64.urlsafe_b64encode` does, in
#: three Python calls a cursor; every rendered event has one).
_URL_SAFE = bytes.maketrans(b"+/", b"-_")


def public_cursor(record_id: str) -> str:
    encoded = binascii.b2a_base64(f"{CURSOR_PREFIX}{record_id}".encode(), newline=False)
    return encoded.translate(_URL_SAFE).decode().rstrip("=")


def record_id_of(cursor: str) -> str | None:
    """The record id a public cursor names; None when `cursor` is not one of ours."""
    if not isinstance(cursor, str) or len(cursor) > 64:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if not text.startswith(CURSOR_PREFIX):
        return None
    record_id = text.removeprefix(CURSOR_PREFIX)
    return record_id if _RECORD_ID.match(record_id) else None
