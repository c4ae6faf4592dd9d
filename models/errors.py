"""The domain's errors: every refusal carries a code, a message and the field at fault; and how to
tell a database that did not answer (worth trying again) from a fault of the code."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

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


class DomainErrors(DomainError):
    """Several refusals at once (every conflict of a proposed start). Its own code, message and
    field are the first's, so a caller that knows one error only still reads the leading one."""

    def __init__(self, errors: Sequence[DomainError]) -> None:
        if not errors:
            raise ValueError("DomainErrors needs at least one error")
        first = errors[0]
        super().__init__(first.code, first.message, first.field)
        self.errors = tuple(errors)


def each_error(error: DomainError) -> tuple[DomainError, ...]:
    """The refusals `error` stands for: its own, or every one of a `DomainErrors`."""
    return error.errors if isinstance(error, DomainErrors) else (error,)


def not_found(what: str, field: str | None = "id") -> DomainError:
    return DomainError(ErrorCode.NOT_FOUND, f"No {what} with that id.", field)


def invalid_transition(current: str, wanted: str) -> DomainError:
    return DomainError(
        ErrorCode.INVALID_TRANSITION,
        f"A request in status {current} cannot move to {wanted}.",
        "status",
    )


#: PostgreSQL's query_canceled: the statement ran or waited (for a lock) past `statement_timeout`,
#: or an operator cancelled it.
QUERY_CANCELED = "57014"


def statement_cancelled(error: BaseException | None) -> bool:
    """Whether the database cancelled a statement behind `error`: asyncpg's `QueryCanceledError`,
    as raised or wrapped by Tortoise (found along the exception's causes). No fault of the code
    that sent it: worth trying again."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if getattr(error, "sqlstate", None) == QUERY_CANCELED:
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


#: SQLSTATE classes of a database that did not answer: 08 (the connection failed or was lost),
#: 57 (operator intervention: a cancelled statement, a server shutting down or starting up).
UNANSWERED_SQLSTATE_CLASSES = ("08", "57")
#: SQLite's word for another writer holding the file past the busy timeout.
SQLITE_LOCKED = "database is locked"


def database_unavailable(error: BaseException | None) -> bool:
    """Whether `error` (or one of its causes) says the database did not answer, as opposed to a
    fault of the statement or of the code that sent it: a cancelled statement, a lost or refused
    connection, a connection or pool wait that timed out, a server shutting down, SQLite's file
    locked by another writer. Worth trying again once the database answers."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        sqlstate = getattr(error, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate[:2] in UNANSWERED_SQLSTATE_CLASSES:
            return True
        if isinstance(error, (ConnectionError, TimeoutError)):
            return True
        if isinstance(error, sqlite3.OperationalError) and str(error).startswith(SQLITE_LOCKED):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


class DatabaseUnavailable(Exception):
    """Raised where a result made while the database did not answer (`database_unavailable`)
    must not be passed on as if whole: a live event's rendering, whose subscribers resume it."""
