"""DateTime: ISO 8601 with a UTC offset, both ways. A time without an offset is ambiguous across
districts' time zones, so it is refused as input rather than guessed."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry
from strawberry.types.scalar import ScalarDefinition


def serialize_datetime(value: datetime) -> str:
    if value.tzinfo is None:
        # Tortoise hands back UTC; a naive value here is UTC that lost its label.
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def parse_datetime(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("DateTime must be a string in ISO 8601, such as 2026-10-01T01:00:00-05:00.")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        raise ValueError(
            f"'{value}' is not an ISO 8601 date and time, such as 2026-10-01T01:00:00-05:00."
        ) from None
    if parsed.tzinfo is None:
        raise ValueError(f"'{value}' has no UTC offset; add one, such as -05:00 or Z.")
    return parsed


DateTimeScalar: ScalarDefinition = strawberry.scalar(
    name="DateTime",
    description="An instant in ISO 8601 with a UTC offset, e.g. 2026-10-01T05:30:00+00:00.",
    serialize=serialize_datetime,
    parse_value=parse_datetime,
)

#: For StrawberryConfig(scalar_map=...): every `datetime` in the schema is this scalar.
SCALAR_MAP: dict[object, ScalarDefinition] = {datetime: DateTimeScalar}
