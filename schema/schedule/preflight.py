"""ScheduleConflict and ScheduleCheck: the pre-flight of a start (hosting staff)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from schema.enums import ErrorCode
from schema.schedule.types import BlackoutType

# Types of other feature slices are named here and resolved by `strawberry.lazy` when the schema is
# built, so slices never import each other; to the type checker they are Any.
if TYPE_CHECKING:
    UpdateRequestType = Any


@strawberry.type(
    description="One conflict of a start: its code (OUTSIDE_MAINTENANCE_WINDOW, WINDOW_TOO_SHORT, "
    "BLACKOUT, ENVIRONMENT_BUSY), a message a person can act on, the request whose start it is, and "
    "the blackout or other request it conflicts with."
)
class ScheduleConflict:
    code: ErrorCode
    message: str
    update_request: Annotated[UpdateRequestType, strawberry.lazy("schema.requests.types")] | None
    conflicting_request: Annotated[UpdateRequestType, strawberry.lazy("schema.requests.types")] | None
    blackout: BlackoutType | None


@strawberry.type(
    description="A proposed start judged: every conflict at once, and the earliest start at or after "
    "it (never in the past) that has none; null when no maintenance window is long enough for the work."
)
class ScheduleCheck:
    conflicts: list[ScheduleConflict]
    next_possible_start: datetime | None
