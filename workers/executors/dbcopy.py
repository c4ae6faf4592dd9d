"""The real data copy of a database refresh: production's database into the target's.

PostgreSQL: ``pg_dump`` (custom format) then ``pg_restore --clean`` into the target; passwords go
through ``PGPASSWORD``, never the command line. SQLite: the sqlite3 backup API, its page-progress
callback reported as progress. Never copies into a production environment.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import tempfile
from collections import deque
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from models.enums import EnvironmentKind, UpdateKind
from workers.errors import StepFailed
from workers.executors.base import COPY_STEP, Executor, ProgressCallback, StepJob
from workers.executors.command import STDERR_TAIL_CHARS

#: Pages per step of the SQLite backup (each step reports progress).
SQLITE_PAGES_PER_STEP = 64
POSTGRES_SCHEMES = ("postgres", "postgresql")
#: Query parameters of a database URL that libpq understands; Tortoise's own ones are dropped.
LIBPQ_QUERY_KEEP = ("sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout")


class DatabaseCopyExecutor:
    """Does the copy step of refreshes that have both database URLs; everything else goes to `inner`."""

    def __init__(self, inner: Executor, timeout_seconds: float) -> None:
        self.inner = inner
        self.timeout_seconds = timeout_seconds

    async def run_step(self, job: StepJob, report: ProgressCallback) -> None:
        if (
            job.kind is UpdateKind.DATABASE_REFRESH
            and job.step == COPY_STEP
            and job.source_database_url
            and job.target_database_url
        ):
            await copy_database(
                job.source_database_url,
                job.target_database_url,
                job.environment,
                report,
                self.timeout_seconds,
            )
            return
        await self.inner.run_step(job, report)


async def copy_database(
    source_url: str, target_url: str, target_environment: str, report: ProgressCallback, time_limit: float
) -> None:
    if target_environment == EnvironmentKind.PRODUCTION.value:
        raise StepFailed("Refusing to copy data into a production environment.", retryable=False)
    if _same_database(source_url, target_url):
        raise StepFailed(
            "The source and target environments share one database; nothing to copy.", retryable=False
        )
    source_scheme = urlsplit(source_url).scheme
    target_scheme = urlsplit(target_url).scheme
    if source_scheme in POSTGRES_SCHEMES and target_scheme in POSTGRES_SCHEMES:
        await copy_postgres(source_url, target_url, report, time_limit)
    elif source_scheme == "sqlite" and target_scheme == "sqlite":
        await asyncio.wait_for(
            copy_sqlite(sqlite_path(source_url), sqlite_path(target_url), report), time_limit
        )
    else:
        raise StepFailed(
            f"Cannot copy a {source_scheme} database into a {target_scheme} one; "
            "both environments must use PostgreSQL or both SQLite.",
            retryable=False,
        )


def _same_database(a: str, b: str) -> bool:
    first, second = urlsplit(a), urlsplit(b)
    return (first.scheme, first.hostname, first.port, first.path) == (
        second.scheme,
        second.hostname,
        second.port,
        second.path,
    )


# --------------------------------------------------------------------------- PostgreSQL


def libpq_target(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URL without its password, and the environment that carries the password."""
    parts = urlsplit(url)
    env: dict[str, str] = {}
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    if parts.password:
        env["PGPASSWORD"] = parts.password
    query = {k: v[-1] for k, v in parse_qs(parts.query).items() if k in LIBPQ_QUERY_KEEP}
    return urlunsplit(("postgresql", netloc, parts.path, urlencode(query), "")), env


async def _run_tool(args: list[str], env: dict[str, str], what: str, time_limit: float) -> None:
    try:
        process = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **env},
        )
    except FileNotFoundError:
        raise StepFailed(
            f"{args[0]} is not installed on the worker (Debian: postgresql-client).", retryable=False
        ) from None
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), time_limit)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise StepFailed(f"{what} exceeded the time limit of {time_limit:g} s and was stopped.") from None
    if process.returncode != 0:
        tail = deque(stderr.decode(errors="replace").strip().splitlines(), maxlen=5)
        raise StepFailed(f"{what} failed: {' | '.join(tail)[-STDERR_TAIL_CHARS:]}")


async def copy_postgres(
    source_url: str, target_url: str, report: ProgressCallback, time_limit: float
) -> None:
    source, source_env = libpq_target(source_url)
    target, target_env = libpq_target(target_url)
    with tempfile.TemporaryDirectory(prefix="updatedesk-refresh-") as directory:
        dump = Path(directory) / "production.dump"
        await report(0, "Exporting production data")
        await _run_tool(
            [
                "pg_dump",
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                f"--file={dump}",
                f"--dbname={source}",
            ],
            source_env,
            "Exporting production data (pg_dump)",
            time_limit,
        )
        await report(50, "Loading data into the target")
        await _run_tool(
            [
                "pg_restore",
                "--clean",
                "--if-exists",
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
                f"--dbname={target}",
                str(dump),
            ],
            target_env,
            "Loading data into the target (pg_restore)",
            time_limit,
        )
        await report(100, "Data copied")


# --------------------------------------------------------------------------- SQLite


def sqlite_path(url: str) -> str:
    """`sqlite:///abs/path`, `sqlite://relative/path` (Tortoise's spelling) -> the file path."""
    rest = url.split("://", 1)[1].split("?", 1)[0]
    if not rest or rest == ":memory:":
        raise StepFailed("An in-memory SQLite database cannot be refreshed.", retryable=False)
    return rest


async def copy_sqlite(source_path: str, target_path: str, report: ProgressCallback) -> None:
    if not await asyncio.to_thread(Path(source_path).exists):
        raise StepFailed(f"The production database file {source_path} does not exist.", retryable=False)
    loop = asyncio.get_running_loop()
    updates: asyncio.Queue[tuple[int, int] | None] = asyncio.Queue()

    def progress(status: int, remaining: int, total: int) -> None:
        loop.call_soon_threadsafe(updates.put_nowait, (remaining, total))

    def backup() -> None:
        try:
            with sqlite3.connect(source_path) as source, sqlite3.connect(target_path) as target:
                source.backup(target, pages=SQLITE_PAGES_PER_STEP, progress=progress)
            source.close()
            target.close()
        finally:
            loop.call_soon_threadsafe(updates.put_nowait, None)

    copying = asyncio.create_task(asyncio.to_thread(backup))
    last_percent = -1
    while (update := await updates.get()) is not None:
        remaining, total = update
        percent = 100 if total == 0 else int(100 * (total - remaining) / total)
        if percent != last_percent:
            last_percent = percent
            await report(percent, f"Copied {total - remaining} of {total} pages")
    try:
        await copying
    except sqlite3.Error as error:
        raise StepFailed(f"Copying the SQLite database failed: {error}") from error
