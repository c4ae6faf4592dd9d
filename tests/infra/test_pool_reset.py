"""A PostgreSQL connection goes back to the pool without asyncpg's reset query (one round trip
saved per statement outside a transaction), and what the reset is for still holds: a transaction
left open is still rolled back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
from tortoise import connections

from infra.db import connection_config, keep_session
from models.tables import District
from tests import support
from tests.factories import make_district


@contextmanager
def sent_statements() -> Iterator[list[str]]:
    """Every statement text asyncpg's connections send with `execute` (the reset goes that way)."""
    sent: list[str] = []
    original = asyncpg.connection.Connection.execute

    async def recording(self: asyncpg.connection.Connection, query: str, *args: Any, **kwargs: Any) -> Any:
        sent.append(query)
        return await original(self, query, *args, **kwargs)

    asyncpg.connection.Connection.execute = recording
    try:
        yield sent
    finally:
        asyncpg.connection.Connection.execute = original


def test_only_postgresql_gets_the_pool_reset() -> None:
    postgres = connection_config("postgres://postgres@127.0.0.1:5432/updatedesk")
    assert isinstance(postgres, dict)
    assert postgres["credentials"]["reset"] is keep_session
    assert connection_config("sqlite://:memory:") == "sqlite://:memory:"


async def test_a_statement_outside_a_transaction_sends_no_reset_query(
    postgres_db: support.TestDatabase,
) -> None:
    with sent_statements() as sent:
        await District.filter(id=0).update(name="x")
    assert sent and not any("pg_advisory_unlock_all" in text or "RESET ALL" in text for text in sent), sent


async def test_a_transaction_left_open_is_rolled_back_on_release(postgres_db: support.TestDatabase) -> None:
    district = await make_district()
    pool = connections.get("default")._pool
    async with pool.acquire() as connection:
        raw = connection._con  # the connection itself, which outlives this proxy
        await connection.execute("BEGIN")
        await connection.execute("UPDATE district SET name = 'left open' WHERE id = $1", district.id)
        assert raw.is_in_transaction()
    assert not raw.is_in_transaction()
    assert await raw.fetchval("SELECT name FROM district WHERE id = $1", district.id) == district.name
