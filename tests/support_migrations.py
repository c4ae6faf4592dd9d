"""Migrations on a database of a test's own: a scratch database (PostgreSQL or SQLite, read with
plain SQL as tuples) and `tortoise migrate` run on it in a Tortoise context of its own."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from tortoise.context import TortoiseContext
from tortoise.migrations.api.migrate import migrate as tortoise_migrate

from infra.db import APP_LABEL, tortoise_config
from tests.support import TestDatabase, create_postgres_database, drop_postgres_database

Query = Callable[[str], Any]


@dataclass
class Scratch:
    """A database of the test's own and a way to read it (rows as tuples)."""

    url: str
    query: Query
    is_postgres: bool


@asynccontextmanager
async def scratch_database(database: TestDatabase, directory: Path) -> AsyncIterator[Scratch]:
    if database.is_postgres:
        url = await create_postgres_database("updatedesk_scratch")
        connection: asyncpg.Connection | None = None
        try:

            async def query(statement: str) -> list[tuple[Any, ...]]:
                nonlocal connection
                if connection is None:
                    connection = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
                return [tuple(row) for row in await connection.fetch(statement)]

            yield Scratch(url, query, True)
        finally:
            if connection is not None:
                await connection.close()
            await drop_postgres_database(url)
    else:
        path = directory / "scratch.sqlite3"

        async def query_sqlite(statement: str) -> list[tuple[Any, ...]]:
            with sqlite3.connect(path) as connection:
                return list(connection.execute(statement).fetchall())

        yield Scratch(f"sqlite://{path}", query_sqlite, False)


async def migrate(url: str, target: str | None = None) -> None:
    """`tortoise migrate` (to `target`, or the head) in a Tortoise context of its own."""
    async with TortoiseContext():
        await tortoise_migrate(
            config=tortoise_config(url), target=f"{APP_LABEL}.{target}" if target else None
        )
