"""`database_unavailable` tells a database that did not answer (worth trying again) from a fault
of the statement or of the code (trying again would fail the same way)."""

from __future__ import annotations

import sqlite3

import asyncpg
import pytest
from tortoise.exceptions import DBConnectionError, IntegrityError, OperationalError

from models.errors import database_unavailable


def wrapped(cause: BaseException) -> BaseException:
    """`cause` as Tortoise raises it: `OperationalError(cause) from cause`."""
    try:
        raise OperationalError(cause) from cause
    except OperationalError as error:
        return error


def during(cause: BaseException) -> BaseException:
    """An error raised while handling `cause` (its `__context__`, no explicit cause)."""
    try:
        try:
            raise cause
        except BaseException:
            raise RuntimeError("while reading")  # noqa: B904 (the context is the point)
    except RuntimeError as error:
        return error


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.QueryCanceledError("canceling statement due to statement timeout"),
        wrapped(asyncpg.QueryCanceledError("canceling statement due to statement timeout")),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        DBConnectionError("can't connect"),
        ConnectionRefusedError(111, "Connection refused"),
        ConnectionResetError(104, "Connection reset by peer"),
        TimeoutError(),
        wrapped(sqlite3.OperationalError("database is locked")),
        during(ConnectionResetError(104, "Connection reset by peer")),
    ],
    ids=repr,
)
def test_a_database_that_did_not_answer_is_recognised(error: BaseException) -> None:
    assert database_unavailable(error)


@pytest.mark.parametrize(
    "error",
    [
        None,
        OperationalError("syntax error at or near"),
        wrapped(asyncpg.UndefinedTableError('relation "nope" does not exist')),
        wrapped(sqlite3.OperationalError("no such table: nope")),
        IntegrityError("duplicate key value"),
        RuntimeError("a bug"),
        KeyError("id"),
    ],
    ids=repr,
)
def test_faults_that_trying_again_would_not_mend_are_not(error: BaseException | None) -> None:
    assert not database_unavailable(error)
