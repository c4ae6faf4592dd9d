"""Errors that reach the client as GraphQL errors with their message intact (never masked)."""

from __future__ import annotations

from enum import StrEnum

from models.enums import ErrorCode
from models.errors import DomainError


class ServiceCode(StrEnum):
    """Codes of GraphQL errors about the service rather than the business (not in `ErrorCode`)."""

    #: A part the operation needs is not running here (live events over HTTP), or did not answer in
    #: time (a statement the database cancelled at its statement timeout): worth trying again.
    UNAVAILABLE = "UNAVAILABLE"
    QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"  # the operation's cost is over the per-request limit
    RATE_LIMITED = "RATE_LIMITED"  # the account spent its cost budget for now
    BAD_REQUEST = "BAD_REQUEST"  # the operation cannot be served the way it was sent


class PublicError(Exception):
    """A refusal about the request itself (no token, a limit exceeded, a bad cursor).

    graphql-core copies `extensions` of the original exception into the GraphQL error, so the
    client sees `extensions.code`. The masking extension lets these through unchanged.
    """

    def __init__(self, code: ErrorCode | ServiceCode, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.extensions: dict[str, object] = {"code": code.value}
        if field is not None:
            self.extensions["field"] = field

    @classmethod
    def from_domain(cls, error: DomainError) -> PublicError:
        return cls(error.code, error.message, error.field)


def unauthenticated(message: str = "Sign in: send 'Authorization: Bearer <token>'.") -> PublicError:
    return PublicError(ErrorCode.UNAUTHENTICATED, message)
