"""No statement holds a pooled PostgreSQL connection for ever: the service's connections carry
`statement_timeout` (`UPDATEDESK_STATEMENT_TIMEOUT_SECONDS`), so a runaway or lock-blocked
statement is cut off; the connections that apply migrations carry none, so a long migration on a
big table runs to its end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.context import TortoiseContext

from infra.db import apply_migrations, migration_config, service_config
from infra.settings import DEFAULT_STATEMENT_TIMEOUT_SECONDS, Settings
from tests import support
from tests.factories import make_district
from tests.support_migrations import migrate, scratch_database
from updatedesk.commands import importing

#: Low enough for a test, high enough that no ordinary statement of the test reaches it.
TIMEOUT = 0.2
POSTGRES = "postgres://postgres@127.0.0.1:5432/updatedesk"


def server_settings(config: str | dict[str, object]) -> object:
    assert isinstance(config, dict)
    connection = config["connections"]["default"]  # type: ignore[index]
    if isinstance(connection, str):
        return None
    return connection["credentials"].get("server_settings")


def test_the_service_sends_its_timeout_in_milliseconds_and_migrations_none() -> None:
    assert DEFAULT_STATEMENT_TIMEOUT_SECONDS == 30
    assert Settings().statement_timeout_seconds == 30
    settings = Settings(database_url=POSTGRES, statement_timeout_seconds=TIMEOUT)
    assert server_settings(service_config(settings)) == {"statement_timeout": "200"}
    assert server_settings(migration_config(settings)) is None
    # 0 switches it off: the server's (or the role's) own setting holds.
    assert (
        server_settings(service_config(Settings(database_url=POSTGRES, statement_timeout_seconds=0))) is None
    )
    # SQLite has no such thing: the URL is passed on as it is.
    assert service_config(Settings(database_url="sqlite://:memory:"))["connections"]["default"] == (
        "sqlite://:memory:"
    )


def test_the_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPDATEDESK_STATEMENT_TIMEOUT_SECONDS", "2.5")
    assert Settings().statement_timeout_seconds == 2.5
    monkeypatch.setenv("UPDATEDESK_STATEMENT_TIMEOUT_SECONDS", "-1")
    with pytest.raises(ValueError):
        Settings()


@asynccontextmanager
async def service_connection(url: str, seconds: float = TIMEOUT) -> AsyncIterator[BaseDBAsyncClient]:
    """The connection the service opens (`init_orm`'s config), in a Tortoise context of its own."""
    async with TortoiseContext() as context:
        await context.init(
            config=service_config(Settings(database_url=url, statement_timeout_seconds=seconds))
        )
        yield context.db()


@asynccontextmanager
async def raw_connection(url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection of the test's own, without any timeout: the other side of a lock."""
    connection = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        yield connection
    finally:
        await connection.close()


async def test_a_runaway_statement_is_cut_off(postgres_db: support.TestDatabase) -> None:
    async with service_connection(postgres_db.url) as connection:
        began = time.monotonic()
        with pytest.raises(asyncpg.QueryCanceledError, match="statement timeout"):
            await connection.execute_query("SELECT pg_sleep(2)")
        assert time.monotonic() - began < 1.5
        # The connection goes back to the pool usable.
        assert (await connection.execute_query_dict("SELECT 1 AS one")) == [{"one": 1}]


async def test_a_statement_blocked_on_a_row_lock_is_cut_off(postgres_db: support.TestDatabase) -> None:
    district = await make_district()
    async with raw_connection(postgres_db.url) as holder, service_connection(postgres_db.url) as connection:
        async with holder.transaction():
            await holder.execute("SELECT id FROM district WHERE id = $1 FOR UPDATE", district.id)
            with pytest.raises(asyncpg.QueryCanceledError, match="statement timeout"):
                await connection.execute_query(
                    "UPDATE district SET name = 'blocked' WHERE id = $1", [district.id]
                )
        # Once the lock is gone the same statement goes through.
        await connection.execute_query("UPDATE district SET name = 'free' WHERE id = $1", [district.id])


async def until_waiting_for_a_lock(watcher: asyncpg.Connection) -> None:
    """Until some session of this database waits for a table lock (each poll one query)."""
    for _ in range(2000):
        waiting = await watcher.fetchval(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "WHERE NOT l.granted AND l.locktype = 'relation' AND d.datname = current_database()"
        )
        if waiting:
            return
    raise AssertionError("the migration never waited for the table lock")


@pytest.mark.parametrize("entry", ["apply_migrations", "updatedesk migrate"])
async def test_a_migration_waiting_longer_than_the_timeout_is_not_cut_off(
    postgres_db: support.TestDatabase, tmp_path: Path, entry: str
) -> None:
    """0015 alters `update_request`; a reader holding that table makes it wait (as a long
    migration on a big table would take long) well past the service's statement timeout."""
    async with scratch_database(postgres_db, tmp_path) as scratch:
        await migrate(scratch.url, "0014_deleted_at_index")
        settings = Settings(database_url=scratch.url, statement_timeout_seconds=TIMEOUT)
        async with (
            raw_connection(scratch.url) as reader,
            raw_connection(scratch.url) as watcher,
            TortoiseContext(),
        ):
            async with reader.transaction():
                await reader.execute("LOCK TABLE update_request IN ACCESS SHARE MODE")
                migrating = asyncio.create_task(
                    apply_migrations(settings) if entry == "apply_migrations" else importing.migrate(settings)
                )
                await until_waiting_for_a_lock(watcher)
                # Held on the server for three times the timeout: a statement of a connection with
                # the timeout would have been cancelled meanwhile.
                await reader.execute("SELECT pg_sleep($1)", 3 * TIMEOUT)
            await migrating
        columns = await scratch.query(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'update_request' AND column_name = 'failure_accepted'"
        )
        assert columns == [("failure_accepted",)]
