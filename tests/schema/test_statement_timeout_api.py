"""A statement the database cancels (PostgreSQL's `statement_timeout`, SQLSTATE 57014) reaches a
GraphQL caller as `UNAVAILABLE` with a message a person can act on: not a hang, and not the
masked "Unexpected error." of a fault in the service."""

from __future__ import annotations

import logging

import asyncpg
import pytest
from graphql import GraphQLError
from tortoise.exceptions import OperationalError

import resolvers.catalog
from models.enums import Role
from schema.extensions import masked
from tests import support
from tests.factories import make_account, make_catalog, make_token
from tests.infra.test_statement_timeout import raw_connection, service_connection
from tests.support_graphql import api_client

SLOW_DATABASE = "The database took too long to answer; try again."
UNREACHABLE_DATABASE = "The database could not be reached; try again."


async def test_a_query_cut_off_by_the_statement_timeout_answers_unavailable(
    postgres_db: support.TestDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    await make_catalog()
    token = await make_token(await make_account(Role.TECHNICAL_CONTACT))
    # Signing in reads accounts and tokens; the releases are what the query waits for.
    async with raw_connection(postgres_db.url) as holder, service_connection(postgres_db.url):
        async with holder.transaction():
            await holder.execute("LOCK TABLE release IN ACCESS EXCLUSIVE MODE")
            with caplog.at_level(logging.WARNING, logger="updatedesk.graphql"):
                async with api_client() as client:
                    body = await client.post("{ releases { version } }", token=token)
        assert body["data"] is None
        [error] = body["errors"]
        assert (error["message"], error["path"], error["extensions"]) == (
            SLOW_DATABASE,
            ["releases"],
            {"code": "UNAVAILABLE"},
        )
        assert "Traceback" not in str(body)
        # Logged for the operator (which statement, where), as a warning rather than a fault.
        [record] = [r for r in caplog.records if r.name == "updatedesk.graphql"]
        assert record.levelno == logging.WARNING and "releases" in record.getMessage()
        assert record.exc_info is not None
        # Once the lock is gone the same query answers.
        async with api_client() as client:
            assert (await client.data("{ releases { version } }", token=token))["releases"]


def test_a_cancelled_statement_wrapped_by_tortoise_is_still_recognised() -> None:
    """Tortoise wraps some asyncpg errors (`OperationalError(exc) from exc`): the cause counts."""
    try:
        try:
            raise asyncpg.QueryCanceledError("canceling statement due to statement timeout")
        except asyncpg.QueryCanceledError as cancelled:
            raise OperationalError(cancelled) from cancelled
    except OperationalError as wrapped:
        error = GraphQLError("boom", path=["releases"], original_error=wrapped)
    answer = masked(error)
    assert (answer.message, answer.extensions) == (SLOW_DATABASE, {"code": "UNAVAILABLE"})
    # Any other database error stays an internal fault, masked.
    other = GraphQLError("boom", path=["releases"], original_error=OperationalError("syntax"))
    assert (masked(other).message, masked(other).extensions) == ("Unexpected error.", {})


async def test_a_query_the_database_could_not_be_reached_for_answers_unavailable(
    db: support.TestDatabase, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A connection lost in the middle of a read (the database restarted, a network blip) is no
    fault of the service's code either: UNAVAILABLE, which clients try again (the live page
    subscribes again), rather than the masked "Unexpected error.", which they take as final."""
    await make_catalog()
    token = await make_token(await make_account(Role.TECHNICAL_CONTACT))

    async def lost(*_args: object, **_kwargs: object) -> object:
        raise asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")

    monkeypatch.setattr(resolvers.catalog, "releases", lost)
    with caplog.at_level(logging.WARNING, logger="updatedesk.graphql"):
        async with api_client() as client:
            body = await client.post("{ releases { version } }", token=token)
    [error] = body["errors"]
    assert (error["message"], error["path"], error["extensions"]) == (
        UNREACHABLE_DATABASE,
        ["releases"],
        {"code": "UNAVAILABLE"},
    )
    assert "closed in the middle" not in str(body)
    [record] = [r for r in caplog.records if r.name == "updatedesk.graphql"]
    assert record.levelno == logging.WARNING and "releases" in record.getMessage()
