"""The one error type of the domain: every refusal carries a code, a message and the field at fault."""

from __future__ import annotations

from models.enums import ErrorCode


class DomainError(Exception):
    """A business refusal. The API turns it into a `UserError`; the CLI into a one-line message."""

    def __init__(self, code: ErrorCode, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def __repr__(self) -> str:
        return f"DomainError({self.code.value}, {self.message!r}, field={self.field!r})"


def not_found(what: str, field: str | None = "id") -> DomainError:
    return DomainError(ErrorCode.NOT_FOUND, f"No {what} with that id.", field)


def invalid_transition(current: str, wanted: str) -> DomainError:
    return DomainError(
        ErrorCode.INVALID_TRANSITION,
        f"A request in status {current} cannot move to {wanted}.",
        "status",
    )
