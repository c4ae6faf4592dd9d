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
