"""Payloads of the mutations on requests: the result, or the business refusals that prevented it."""

from __future__ import annotations

from typing import cast

import strawberry

from models.errors import DomainError, each_error
from models.tables import UpdateRequest as UpdateRequestRow
from schema.errors import DeletePayload, UserError
from schema.requests.types import UpdateRequestType


@strawberry.type
class UpdateRequestPayload:
    update_request: UpdateRequestType | None
    errors: list[UserError]

    @classmethod
    def ok(cls, row: UpdateRequestRow) -> UpdateRequestPayload:
        return cls(update_request=cast(UpdateRequestType, row), errors=[])

    @classmethod
    def refused(cls, error: DomainError) -> UpdateRequestPayload:
        return cls(update_request=None, errors=[UserError.from_domain(e) for e in each_error(error)])


__all__ = ["DeletePayload", "UpdateRequestPayload"]  # DeletePayload: shared by every slice
