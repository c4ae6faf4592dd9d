"""A refresh never writes into production's database, however its URL is spelled, and a copy past
its time limit really stops. Real databases: PostgreSQL clusters and SQLite files."""

from __future__ import annotations

import sqlite3
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from models.enums import UpdateStatus
from tests import support
from tests.support import create_postgres_database, drop_postgres_database
from tests.workers.scenario import make_scene
from tests.workers.test_dbcopy import _dsn, _refresh_sandbox
from workers.errors import StepFailed
from workers.executors.dbcopy import copy_database

ROW = (1, "written in production")


async def _ignore(percent: int, message: str | None) -> None:
    return None


def _respell(url: str, *, scheme: str | None = None, host: str | None = None, port: bool = True,
             user: str | None = None) -> str:  # fmt: skip
    parts = urlsplit(url)
    netloc = f"{user or parts.username}@{host or parts.hostname}" + (f":{parts.port}" if port else "")
    return urlunsplit((scheme or parts.scheme, netloc, parts.path, parts.query, ""))


@pytest.fixture
async def production(postgres_db: support.TestDatabase) -> AsyncIterator[str]:
    url = await create_postgres_database("updatedesk_prod")
    connection = await asyncpg.connect(_dsn(url))
    try:
        await connection.execute("CREATE TABLE students (id int PRIMARY KEY, name text NOT NULL)")
        await connection.execute("INSERT INTO students VALUES ($1, $2)", *ROW)
    finally:
        await connection.close()
    try:
        yield url
    finally:
        await drop_postgres_database(url)


async def _rows(url: str) -> list[tuple[int, str]]:
    connection = await asyncpg.connect(_dsn(url))
    try:
        return [(r["id"], r["name"]) for r in await connection.fetch("SELECT id, name FROM students")]
    finally:
        await connection.close()


async def test_production_under_another_spelling_is_refused_through_the_runbook(
    postgres_db: support.TestDatabase, production: str
) -> None:
    scene = await make_scene()
    sandbox_url = _respell(production, scheme="postgresql", host="localhost", port=False)
    request = await _refresh_sandbox(postgres_db, scene, production, sandbox_url)
    assert request.status is UpdateStatus.UNABLE_TO_COMPLETE
    assert request.status_message is not None and "Copy the data" in request.status_message
    assert "localhost" not in request.status_message and "5432" not in request.status_message
    # Why, for hosting staff: the target is production's own database.
    assert request.internal_detail is not None and "production's own database" in request.internal_detail
    assert await _rows(production) == [ROW]  # untouched: no pg_restore --clean ran against it


async def test_every_spelling_of_productions_url_is_refused(production: str) -> None:
    role = f"updatedesk_alias_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(_dsn(support.POSTGRES_ADMIN_URL))
    await admin.execute(f'CREATE ROLE "{role}" LOGIN')
    try:
        spellings = {
            "postgresql:// for postgres://": _respell(production, scheme="postgresql"),
            "default port left out": _respell(production, port=False),
            "localhost for 127.0.0.1": _respell(production, host="localhost"),
            "another user": _respell(production, user=role),
            "all at once": _respell(production, scheme="postgresql", host="localhost", port=False, user=role),
        }
        for what, target in spellings.items():
            assert target != production
            with pytest.raises(StepFailed, match="production's own database") as refused:
                await copy_database(production, target, "SANDBOX", _ignore, 30)
            assert not refused.value.retryable, what
        assert await _rows(production) == [ROW]
    finally:
        await admin.execute(f'DROP ROLE "{role}"')
        await admin.close()


async def test_the_services_own_database_is_never_a_target(
    postgres_db: support.TestDatabase, production: str
) -> None:
    own = _respell(postgres_db.url, scheme="postgresql", host="localhost")
    with pytest.raises(StepFailed, match="must never be overwritten"):
        await copy_database(production, own, "SANDBOX", _ignore, 30, protected_urls=[postgres_db.url])


async def test_a_postgres_copy_past_its_time_limit_stops_pg_dump(production: str) -> None:
    """pg_dump waits on a lock held in production; the time limit stops it (no pg_dump left)."""
    target = await create_postgres_database("updatedesk_sandbox")
    holder = await asyncpg.connect(_dsn(production))
    try:
        transaction = holder.transaction()
        await transaction.start()
        await holder.execute("LOCK TABLE students IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(StepFailed, match="time limit"):
            await copy_database(production, target, "SANDBOX", _ignore, 1.5)
        await transaction.rollback()
        database = urlsplit(production).path.lstrip("/")
        assert not [cmd for cmd in _command_lines() if "pg_dump" in cmd and database in cmd]
    finally:
        await holder.close()
        await drop_postgres_database(target)


def _command_lines() -> list[str]:
    lines = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                lines.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
            except OSError:
                continue
    return lines


# --------------------------------------------------------------------------- SQLite


def _make_sqlite(path: Path) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE students (id INTEGER PRIMARY KEY, name TEXT)")
        connection.executemany("INSERT INTO students VALUES (?, ?)", [(i, "x" * 500) for i in range(500)])
    connection.close()


async def test_a_sqlite_file_under_another_name_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "production.sqlite3"
    _make_sqlite(source)
    (tmp_path / "sandbox-link.sqlite3").symlink_to(source)
    (tmp_path / "dir").mkdir()
    spellings = [
        f"sqlite://{tmp_path / 'sandbox-link.sqlite3'}",  # a symlink
        f"sqlite://{tmp_path / 'dir' / '..' / 'production.sqlite3'}",  # another path
    ]
    for target in spellings:
        with pytest.raises(StepFailed, match="production's own database"):
            await copy_database(f"sqlite://{source}", target, "SANDBOX", _ignore, 5)


def _backup_threads() -> list[str]:
    """Threads now inside the copy's backup function."""
    found = []
    for thread_id, frame in sys._current_frames().items():
        current: FrameType | None = frame
        while current is not None:
            code = current.f_code
            if code.co_name == "backup" and code.co_filename.endswith("dbcopy.py"):
                found.append(str(thread_id))
            current = current.f_back
    return found


async def test_a_sqlite_copy_past_its_time_limit_stops_its_backup_thread(tmp_path: Path) -> None:
    """The target is locked by someone else, so the backup can only wait: the time limit ends the
    copy, and its thread has stopped by then (it would otherwise copy once the lock goes)."""
    source, target = tmp_path / "production.sqlite3", tmp_path / "sandbox.sqlite3"
    _make_sqlite(source)
    locker = sqlite3.connect(target, isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StepFailed, match="time limit"):
            await copy_database(f"sqlite://{source}", f"sqlite://{target}", "SANDBOX", _ignore, 0.5)
        assert _backup_threads() == []
        locker.execute("ROLLBACK")
    finally:
        locker.close()
    with sqlite3.connect(target) as check:
        assert check.execute("SELECT name FROM sqlite_master WHERE name = 'students'").fetchall() == []
    check.close()
