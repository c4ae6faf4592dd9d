"""Payloads shared by several mutations: the result, or the business refusals that prevented it."""

from __future__ import annotations

import strawberry

from models.errors import DomainError
from models.tables import UpdateRequest as UpdateRequestRow
from schema.errors import UserError
from schema.requests import UpdateRequestType


@strawberry.type
class UpdateRequestPayload:
    update_request: UpdateRequestType | None
    errors: list[UserError]

    @classmethod
    def ok(cls, row: UpdateRequestRow) -> UpdateRequestPayload:
        return cls(update_request=UpdateRequestType.from_row(row), errors=[])

    @classmethod
    def refused(cls, error: DomainError) -> UpdateRequestPayload:
        return cls(update_request=None, errors=[UserError.from_domain(error)])


@strawberry.type
class DeletePayload:
    deleted_id: strawberry.ID | None
    errors: list[UserError]
