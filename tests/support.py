"""Test plumbing shared by the suite: throwaway databases on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from tortoise import Tortoise, connections

#: Where the PostgreSQL test databases are created (trust auth on this machine).
POSTGRES_ADMIN_URL = os.environ.get("UPDATEDESK_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres")
BACKENDS = ("sqlite", "postgres")

DEFAULT_WINDOW_SQL = (
    "INSERT INTO maintenance_window (hosting_model, weekday, start_time, end_time, time_zone) "
    "VALUES ('CAMPUS_CLOUD', 4, '00:30:00', '03:30:00', 'America/Chicago')"
)


@dataclass(frozen=True)
class TestDatabase:
    __test__ = False  # a fixture value, not a test class

    backend: str
    url: str

    @property
    def is_postgres(self) -> bool:
        return self.backend == "postgres"


def selected_backends() -> list[str]:
    chosen = os.environ.get("UPDATEDESK_TEST_BACKENDS", ",".join(BACKENDS))
    names = [name.strip() for name in chosen.split(",") if name.strip()]
    unknown = set(names) - set(BACKENDS)
    if unknown:
        raise ValueError(f"UPDATEDESK_TEST_BACKENDS: unknown backends {sorted(unknown)}")
    return names


def _server_url(database: str) -> str:
    base, _, _ = POSTGRES_ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


async def create_postgres_database(prefix: str = "updatedesk_test") -> str:
    """Create an empty, uniquely named database and return its Tortoise URL."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL.replace("postgres://", "postgresql://", 1))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return _server_url(name)


async def drop_postgres_database(url: str) -> None:
    name = url.rpartition("/")[2].split("?")[0]
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL.replace("postgres://", "postgresql://", 1))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def sqlite_url(directory: Path) -> str:
    return f"sqlite://{directory / 'updatedesk-test.sqlite3'}"


def table_names() -> list[str]:
    names = []
    for app in Tortoise.apps.values():
        for model in app.values():
            names.append(model._meta.db_table)
            for field in model._meta.m2m_fields:
                through = model._meta.fields_map[field].through
                names.append(through)
    return sorted(set(names))


async def reset_tables(database: TestDatabase) -> None:
    """Empty every table and restore the seeded maintenance window: each test starts clean."""
    connection = connections.get("default")
    tables = table_names()
    if database.is_postgres:
        # DELETE with foreign-key triggers off: ~1 ms, where TRUNCATE of every table takes ~80 ms.
        # Ids keep counting up across tests; no test may rely on them starting at 1.
        deletes = " ".join(f'DELETE FROM "{name}";' for name in tables)
        await connection.execute_script(
            f"SET session_replication_role = replica; {deletes} SET session_replication_role = DEFAULT;"
        )
    else:
        # Foreign-key checks off, as on PostgreSQL: with them on, each deleted row is looked up in
        # the tables that refer to it, some by unindexed columns (update_request.superseded_by_id):
        # minutes after a test that wrote tens of thousands of requests.
        await connection.execute_script("PRAGMA foreign_keys = OFF")
        try:
            for name in tables:
                await connection.execute_script(f'DELETE FROM "{name}"')
            await connection.execute_script("DELETE FROM sqlite_sequence")
        finally:
            await connection.execute_script("PRAGMA foreign_keys = ON")
    await connection.execute_script(DEFAULT_WINDOW_SQL)


@asynccontextmanager
async def table_aside(table: str) -> AsyncIterator[None]:
    """The test database without `table` (renamed aside) for the block: every statement that reads
    it fails, as when the database does not answer, while the rest of it works on."""
    connection = connections.get("default")
    await connection.execute_script(f'ALTER TABLE "{table}" RENAME TO "{table}_aside"')
    try:
        yield
    finally:
        await connection.execute_script(f'ALTER TABLE "{table}_aside" RENAME TO "{table}"')
