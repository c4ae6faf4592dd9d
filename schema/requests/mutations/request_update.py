"""requestUpdate: a district contact asks for a version update or a database refresh."""

from __future__ import annotations

from datetime import datetime

import strawberry

from models.errors import DomainError
from resolvers import requests
from resolvers.context import Info
from schema.enums import EnvironmentKind, UpdateKind
from schema.requests.payloads import UpdateRequestPayload


@strawberry.input
class RequestUpdateInput:
    district_id: strawberry.ID
    kind: UpdateKind
    environment: EnvironmentKind
    target_version: str | None = strawberry.field(
        default=None, description="Required for version updates: a version from the catalog."
    )
    preferred_start: datetime | None = None
    notes: str | None = None
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="Sending the same key again with the same input returns the first request "
        "instead of a new one; the same key with different input is refused (IDEMPOTENCY_KEY_REUSED).",
    )


#: The inputs of requestUpdate: a refusal names one of these, or no field at all.
INPUT_FIELDS = frozenset(
    {"districtId", "kind", "environment", "targetVersion", "preferredStart", "notes", "idempotencyKey"}
)


async def request_update(info: Info, input: RequestUpdateInput) -> UpdateRequestPayload:
    try:
        row = await requests.request_update(
            info.context,
            district_id=input.district_id,
            kind=input.kind,
            environment=input.environment,
            target_version=input.target_version,
            preferred_start=input.preferred_start,
            notes=input.notes,
            idempotency_key=input.idempotency_key,
        )
    except DomainError as error:
        if error.field not in INPUT_FIELDS:
            # A refusal about something the caller did not send (say the status of another
            # request that moved meanwhile) must not point at a field the mutation has not got.
            error = DomainError(error.code, error.message, None)
        return UpdateRequestPayload.refused(error)
    return UpdateRequestPayload.ok(row)
