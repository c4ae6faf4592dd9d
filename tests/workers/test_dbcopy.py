"""Database refresh with a real copy: PostgreSQL to PostgreSQL via pg_dump/pg_restore, SQLite via
the backup API. (Refusals and routing without a runbook: tests/workers/executors/test_dbcopy.py.)"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import asyncpg

from models.enums import EnvironmentKind, UpdateKind, UpdateStatus
from models.tables import Environment, UpdateRequest
from tests import support
from tests.support import create_postgres_database, drop_postgres_database
from tests.workers.conftest import wait_until
from tests.workers.scenario import Scene, make_scene, request_and_schedule
from tests.workers.test_embedded import WITHIN, settings_for
from workers.runtime import embedded_runtime


async def _refresh_sandbox(
    db: support.TestDatabase, scene: Scene, source_url: str, target_url: str
) -> UpdateRequest:
    district_id = scene.district.id
    await Environment.filter(district_id=district_id, kind=EnvironmentKind.PRODUCTION).update(
        database_url=source_url
    )
    await Environment.filter(district_id=district_id, kind=EnvironmentKind.SANDBOX).update(
        database_url=target_url
    )
    async with embedded_runtime(settings_for(db)):
        request = await request_and_schedule(scene, UpdateKind.DATABASE_REFRESH, EnvironmentKind.SANDBOX)

        async def finished() -> bool:
            status = (await UpdateRequest.get(id=request.id)).status
            return status in (UpdateStatus.COMPLETED, UpdateStatus.UNABLE_TO_COMPLETE)

        await wait_until(finished, WITHIN, "the refresh")
    return await UpdateRequest.get(id=request.id)


def _dsn(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


async def test_refresh_copies_production_rows_between_postgres_databases(
    postgres_db: support.TestDatabase,
) -> None:
    scene = await make_scene()
    source_url = await create_postgres_database("updatedesk_copy_src")
    target_url = await create_postgres_database("updatedesk_copy_dst")
    try:
        source = await asyncpg.connect(_dsn(source_url))
        try:
            await source.execute("CREATE TABLE students (id int PRIMARY KEY, name text NOT NULL)")
            await source.executemany(
                "INSERT INTO students VALUES ($1, $2)", [(i, f"Student {i}") for i in range(1, 251)]
            )
        finally:
            await source.close()
        target = await asyncpg.connect(_dsn(target_url))
        try:
            await target.execute("CREATE TABLE students (id int PRIMARY KEY, name text NOT NULL)")
            await target.execute("INSERT INTO students VALUES (999, 'stale sandbox row')")
        finally:
            await target.close()

        request = await _refresh_sandbox(postgres_db, scene, source_url, target_url)
        assert request.status is UpdateStatus.COMPLETED, request.status_message

        target = await asyncpg.connect(_dsn(target_url))
        try:
            rows = await target.fetch("SELECT id, name FROM students ORDER BY id")
        finally:
            await target.close()
        assert [(r["id"], r["name"]) for r in rows] == [(i, f"Student {i}") for i in range(1, 251)]
    finally:
        await drop_postgres_database(source_url)
        await drop_postgres_database(target_url)


async def test_refresh_copies_a_sqlite_database_with_the_backup_api(
    db: support.TestDatabase, tmp_path: Path
) -> None:
    scene = await make_scene()
    source_path, target_path = tmp_path / "production.sqlite3", tmp_path / "sandbox.sqlite3"
    with sqlite3.connect(source_path) as source:
        source.execute("CREATE TABLE students (id INTEGER PRIMARY KEY, name TEXT)")
        source.executemany("INSERT INTO students VALUES (?, ?)", [(i, "x" * 500) for i in range(2000)])
    source.close()
    request = await _refresh_sandbox(db, scene, f"sqlite://{source_path}", f"sqlite://{target_path}")
    assert request.status is UpdateStatus.COMPLETED, request.status_message
    with sqlite3.connect(target_path) as target:
        assert target.execute("SELECT count(*) FROM students").fetchone() == (2000,)
    target.close()
