"""Payloads shared by several feature slices."""

from __future__ import annotations

import strawberry

from models.errors import DomainError
from schema.errors import UserError


@strawberry.type
class DeletePayload:
    deleted_id: strawberry.ID | None
    errors: list[UserError]

    @classmethod
    def refused(cls, error: DomainError) -> DeletePayload:
        return cls(deleted_id=None, errors=[UserError.from_domain(error)])
