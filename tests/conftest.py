"""Fixtures for the whole suite. Tests that take `db` run once on SQLite and once on PostgreSQL,
each against a database created for this run and dropped after it."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from tortoise.backends.base.executor import EXECUTOR_CACHE

from infra.db import apply_migrations, close_orm, init_orm
from infra.settings import Settings
from tests.support import (
    TestDatabase,
    create_postgres_database,
    drop_postgres_database,
    reset_tables,
    selected_backends,
    sqlite_url,
)

os.environ.setdefault("UPDATEDESK_LOG_JSON", "false")


@pytest_asyncio.fixture(scope="session", loop_scope="session", params=selected_backends())
async def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[TestDatabase]:
    backend: str = request.param
    if backend == "postgres":
        url = await create_postgres_database()
    else:
        url = sqlite_url(tmp_path_factory.mktemp("sqlite"))
    settings = Settings(database_url=url)
    # Tortoise caches insert statements per connection name; a new backend needs its own.
    EXECUTOR_CACHE.clear()
    try:
        await apply_migrations(settings)
    finally:
        await close_orm()
    await init_orm(settings)
    try:
        yield TestDatabase(backend, url)
    finally:
        await close_orm()
        if backend == "postgres":
            await drop_postgres_database(url)


@pytest_asyncio.fixture
async def db(database: TestDatabase) -> TestDatabase:
    """A migrated, empty database (only the seeded maintenance window)."""
    await reset_tables(database)
    return database


@pytest.fixture
def postgres_db(db: TestDatabase) -> TestDatabase:
    """For tests of locking and races, which only PostgreSQL can show (SQLite serializes writes)."""
    if not db.is_postgres:
        pytest.skip("PostgreSQL-only (row locks, several processes on one database, pg_dump)")
    return db


@pytest.fixture(scope="session")
def run_id() -> str:
    """Unique per test run: prefix for Redis keys and channels so runs never see each other."""
    return f"updatedesk-test-{uuid.uuid4().hex[:12]}"
