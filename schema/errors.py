"""Business refusals as data: the `errors` list of every mutation payload."""

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
