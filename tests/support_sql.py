"""Counting SQL statements: Tortoise logs every statement to `tortoise.db_client` at DEBUG."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

_CLIENT_LOGGER = "tortoise.db_client"
# Connection-pool chatter on the same logger is not a statement.
_NOT_STATEMENTS = ("Created connection", "Closed connection")


class StatementCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if not message.startswith(_NOT_STATEMENTS):
            self.statements.append(message)

    @property
    def count(self) -> int:
        return len(self.statements)


@contextmanager
def count_statements() -> Iterator[StatementCounter]:
    logger = logging.getLogger(_CLIENT_LOGGER)
    counter = StatementCounter()
    previous_level = logger.level
    logger.addHandler(counter)
    logger.setLevel(logging.DEBUG)
    try:
        yield counter
    finally:
        logger.removeHandler(counter)
        logger.setLevel(previous_level)


class RoundTrips:
    """Statements (Tortoise's statement log) plus transaction control (BEGIN, COMMIT, ROLLBACK,
    which that log does not show): every round trip to the database."""

    def __init__(self, statements: StatementCounter) -> None:
        self.statements = statements
        self.transaction_control: list[str] = []

    @property
    def count(self) -> int:
        return self.statements.count + len(self.transaction_control)

    def describe(self) -> str:
        lines = [statement[:120] for statement in self.statements.statements]
        control = len(self.transaction_control)
        return f"{len(lines)} statements, {control} BEGIN/COMMIT/ROLLBACK:\n" + "\n".join(lines)


def _transaction_wrappers() -> list[type]:
    from tortoise.backends.asyncpg.client import TransactionWrapper
    from tortoise.backends.sqlite.client import SqliteTransactionWrapper

    return [TransactionWrapper, SqliteTransactionWrapper]


@contextmanager
def count_round_trips() -> Iterator[RoundTrips]:
    """Count every statement and transaction control command sent while the block runs (both
    backends' transaction wrappers, whose begin/commit/rollback are wrapped for the block)."""
    originals: list[tuple[type, str, object]] = []
    with count_statements() as statements:
        trips = RoundTrips(statements)
        for wrapper in _transaction_wrappers():
            for name in ("begin", "commit", "rollback"):
                original = getattr(wrapper, name)
                originals.append((wrapper, name, original))

                def counted(self: object, *, _name: str = name, _original: object = original) -> object:
                    trips.transaction_control.append(_name)
                    return _original(self)  # type: ignore[operator]

                setattr(wrapper, name, counted)
        try:
            yield trips
        finally:
            for wrapper, name, original in originals:
                setattr(wrapper, name, original)
