"""Business refusals as data: the `errors` list of every mutation payload, and the payload of
every delete (shared by the feature slices)."""

from __future__ import annotations

import strawberry

from models.errors import DomainError
from schema.enums import ErrorCode


@strawberry.type(
    description="Why a mutation was refused: a code, a message a person can act on, and the "
    "input field at fault when there is one."
)
class UserError:
    code: ErrorCode
    message: str
    field: str | None = None

    @classmethod
    def from_domain(cls, error: DomainError) -> UserError:
        return cls(code=error.code, message=error.message, field=error.field)


@strawberry.type(description="The id of what was deleted, or why it was not.")
class DeletePayload:
    deleted_id: strawberry.ID | None
    errors: list[UserError]

    @classmethod
    def refused(cls, error: DomainError) -> DeletePayload:
        return cls(deleted_id=None, errors=[UserError.from_domain(error)])
