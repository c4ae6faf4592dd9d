"""The database-copy executor without a runbook: which steps it takes over, the URLs it hands to
pg_dump/pg_restore, and the copies it refuses. (Whole refreshes: tests/workers/test_dbcopy.py.)"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from models.enums import UpdateKind
from tests.workers.executors.jobs import Progress, step_job
from workers.errors import StepFailed
from workers.executors import COPY_STEP, StepJob
from workers.executors.base import ProgressCallback
from workers.executors.dbcopy import (
    DatabaseCopyExecutor,
    copy_database,
    copy_sqlite,
    libpq_target,
    sqlite_path,
)


class Recorder:
    """The executor a DatabaseCopyExecutor wraps: notes the steps handed on to it."""

    def __init__(self) -> None:
        self.steps: list[str] = []

    async def run_step(self, job: StepJob, report: ProgressCallback) -> None:
        self.steps.append(job.step)


def make_source(path: Path, rows: int) -> None:
    with sqlite3.connect(path) as source:
        source.execute("CREATE TABLE students (id INTEGER PRIMARY KEY, name TEXT)")
        source.executemany("INSERT INTO students VALUES (?, ?)", [(i, "x" * 500) for i in range(rows)])
    source.close()


def count_students(path: Path) -> int:
    with sqlite3.connect(path) as target:
        (count,) = target.execute("SELECT count(*) FROM students").fetchone()
    target.close()
    return int(count)


def refresh_job(tmp_path: Path, **changes: object) -> StepJob:
    values: dict[str, object] = {
        "kind": UpdateKind.DATABASE_REFRESH,
        "step": COPY_STEP,
        "environment": "SANDBOX",
        "target_version": None,
        "source_database_url": f"sqlite://{tmp_path / 'production.sqlite3'}",
        "target_database_url": f"sqlite://{tmp_path / 'sandbox.sqlite3'}",
        **changes,
    }
    return step_job(**values)


# --------------------------------------------------------------------------- which steps


async def test_other_steps_go_to_the_wrapped_executor(tmp_path: Path) -> None:
    inner = Recorder()
    copier = DatabaseCopyExecutor(inner, 10.0)
    await copier.run_step(refresh_job(tmp_path, step="snapshot_production"), Progress())
    await copier.run_step(step_job(step=COPY_STEP), Progress())  # a version update's step
    assert inner.steps == ["snapshot_production", COPY_STEP]


@pytest.mark.parametrize("missing", ["source_database_url", "target_database_url"])
async def test_a_copy_step_without_both_urls_goes_to_the_wrapped_executor(
    tmp_path: Path, missing: str
) -> None:
    inner = Recorder()
    await DatabaseCopyExecutor(inner, 10.0).run_step(refresh_job(tmp_path, **{missing: None}), Progress())
    assert inner.steps == [COPY_STEP]


async def test_the_copy_step_of_a_refresh_copies_instead_of_the_wrapped_executor(tmp_path: Path) -> None:
    make_source(tmp_path / "production.sqlite3", rows=1000)
    inner, progress = Recorder(), Progress()
    await DatabaseCopyExecutor(inner, 10.0).run_step(refresh_job(tmp_path), progress)
    assert inner.steps == []
    assert count_students(tmp_path / "sandbox.sqlite3") == 1000
    percents = [percent for percent, _ in progress.reports]
    assert percents == sorted(percents) and percents[-1] == 100 and len(percents) > 1


# --------------------------------------------------------------------------- refusals


async def test_never_copies_into_production(tmp_path: Path) -> None:
    with pytest.raises(StepFailed, match="production") as caught:
        await copy_database(
            f"sqlite://{tmp_path / 'a.sqlite3'}",
            f"sqlite://{tmp_path / 'b.sqlite3'}",
            "PRODUCTION",
            Progress(),
            10,
        )
    assert not caught.value.retryable


# Copying a database onto itself under any spelling: tests/workers/test_dbcopy_identity.py, with
# real databases (the check asks the servers and the file system what each database is).


async def test_refuses_to_copy_between_different_engines(tmp_path: Path) -> None:
    with pytest.raises(StepFailed, match="both must use PostgreSQL or both SQLite") as caught:
        await copy_database(
            "postgres://db.example/campus", f"sqlite://{tmp_path / 'b.sqlite3'}", "SANDBOX", Progress(), 10
        )
    assert not caught.value.retryable


async def test_a_missing_production_file_fails_for_good(tmp_path: Path) -> None:
    with pytest.raises(StepFailed, match="could not be found") as caught:
        await copy_sqlite(str(tmp_path / "absent.sqlite3"), str(tmp_path / "b.sqlite3"), Progress())
    assert not caught.value.retryable
    assert not (tmp_path / "b.sqlite3").exists()


# --------------------------------------------------------------------------- URLs


def test_libpq_target_keeps_the_password_off_the_command_line() -> None:
    url, env = libpq_target("postgres://campus:s3cret@db.example:6432/district_7")
    assert url == "postgresql://campus@db.example:6432/district_7"
    assert env == {"PGPASSWORD": "s3cret"}


def test_libpq_target_keeps_libpq_options_and_drops_tortoise_ones() -> None:
    url, env = libpq_target("postgresql://db.example/campus?minsize=1&maxsize=5&sslmode=require")
    assert url == "postgresql://db.example/campus?sslmode=require"
    assert env == {}


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///srv/data/campus.sqlite3", "/srv/data/campus.sqlite3"),
        ("sqlite://data/campus.sqlite3", "data/campus.sqlite3"),
        ("sqlite:///srv/campus.sqlite3?journal_mode=wal", "/srv/campus.sqlite3"),
    ],
)
def test_sqlite_path_reads_both_spellings(url: str, path: str) -> None:
    assert sqlite_path(url) == path


@pytest.mark.parametrize("url", ["sqlite://:memory:", "sqlite://"])
def test_sqlite_path_refuses_a_database_without_a_file(url: str) -> None:
    with pytest.raises(StepFailed, match="in-memory") as caught:
        sqlite_path(url)
    assert not caught.value.retryable
