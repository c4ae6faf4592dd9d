"""The real data copy of a database refresh: production's database into the target's.

PostgreSQL: ``pg_dump`` (custom format) then ``pg_restore --clean`` into the target; passwords go
through ``PGPASSWORD``, never the command line. SQLite: the sqlite3 backup API, its page-progress
callback reported as progress.

Before anything is written, each database is asked which it is (`databases.identify`): a target
that is production's database (or the service's own) under any spelling of its URL is refused.
Never copies into a production environment. The whole copy has one time limit; past it the copy is
stopped (the tools' process groups killed, the SQLite backup aborted) and the step fails. Reasons
name no host, role or file: tool output is the failure's detail, for hosting staff.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sqlite3
import tempfile
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path

from infra.logs import redact_text
from models.enums import EnvironmentKind, UpdateKind
from workers.errors import StepFailed
from workers.executors.base import COPY_STEP, Executor, ProgressCallback, StepJob
from workers.executors.command import STDERR_TAIL_CHARS, guarded, inherited_environment, stop_group
from workers.executors.databases import (
    DatabaseIdentity,
    Engine,
    engine_of,
    identify,
    libpq_target,
    sqlite_path,
)

#: Pages per step of the SQLite backup (each step reports progress).
SQLITE_PAGES_PER_STEP = 64
#: Lines of a failing tool's stderr kept as the failure's detail.
TOOL_STDERR_LINES = 5


class DatabaseCopyExecutor:
    """Does the copy step of refreshes that have both database URLs; everything else goes to `inner`.

    `environment`: what the PostgreSQL tools inherit (no secret of the worker); `protected_urls`:
    databases never written to besides production's (the service's own)."""

    def __init__(
        self,
        inner: Executor,
        timeout_seconds: float,
        environment: Mapping[str, str] | None = None,
        *,
        protected_urls: Sequence[str] = (),
    ) -> None:
        self.inner = inner
        self.timeout_seconds = timeout_seconds
        self.environment = dict(environment if environment is not None else inherited_environment(os.environ))
        self.protected_urls = tuple(protected_urls)

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
                environment=self.environment,
                protected_urls=self.protected_urls,
            )
            return
        await self.inner.run_step(job, report)


async def copy_database(
    source_url: str,
    target_url: str,
    target_environment: str,
    report: ProgressCallback,
    time_limit: float,
    *,
    environment: Mapping[str, str] | None = None,
    protected_urls: Sequence[str] = (),
) -> None:
    """Copy production's database into the target's, within `time_limit` seconds in all."""
    if target_environment == EnvironmentKind.PRODUCTION.value:
        raise StepFailed("Refusing to copy data into a production environment.", retryable=False)
    source_engine, target_engine = engine_of(source_url), engine_of(target_url)
    if source_engine is None or source_engine is not target_engine:
        raise StepFailed(
            "Production and the target site use different kinds of database; both must use "
            "PostgreSQL or both SQLite. The hosting team must correct the database settings.",
            retryable=False,
        )
    site = f"the {target_environment.lower()} site"
    timer = asyncio.timeout(time_limit)
    try:
        async with timer:
            await check_distinct(source_url, target_url, site, protected_urls)
            if source_engine is Engine.POSTGRESQL:
                inherited = environment if environment is not None else inherited_environment(os.environ)
                await copy_postgres(source_url, target_url, report, dict(inherited))
            else:
                await copy_sqlite(sqlite_path(source_url), sqlite_path(target_url), report)
    except TimeoutError:
        if not timer.expired():
            raise
        raise StepFailed(
            f"Copying the data exceeded the time limit of {time_limit:g} s and was stopped."
        ) from None


async def check_distinct(source_url: str, target_url: str, site: str, protected_urls: Sequence[str]) -> None:
    """Refuse a target that is production's database, or a protected one, under any spelling."""
    target = await identify(target_url, site)
    if target is None:
        return  # a SQLite file not made yet: no existing database
    source = await identify(source_url, "the production site")
    if source == target:
        raise StepFailed(
            f"The database setting of {site} points at production's own database; nothing was "
            "copied. The hosting team must correct the database settings.",
            retryable=False,
            detail="source and target are one database: " + _describe(target),
        )
    for url in protected_urls:
        if engine_of(url) is target.engine and await identify(url, "the service") == target:
            raise StepFailed(
                f"The database setting of {site} points at a database that must never be "
                "overwritten; nothing was copied. The hosting team must correct the database settings.",
                retryable=False,
                detail="target is the service's own database: " + _describe(target),
            )


def _describe(identity: DatabaseIdentity) -> str:
    return f"{identity.engine.value} {identity.key}"


# --------------------------------------------------------------------------- PostgreSQL


async def _run_tool(args: list[str], env: dict[str, str], what: str) -> None:
    """Run one tool in its own process group; whatever ends this (failure, time limit, cancel)
    stops the whole group."""
    if shutil.which(args[0], path=env.get("PATH", os.defpath)) is None:
        raise StepFailed(
            "The database tools are not installed on the worker; the hosting team must install them.",
            retryable=False,
            detail=f"{args[0]} not found (Debian: postgresql-client)",
        )
    # Under the guard: a worker that dies mid-copy does not leave the tool copying.
    process = await asyncio.create_subprocess_exec(
        *guarded(args),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    try:
        _, stderr = await process.communicate()
    finally:
        await stop_group(process)
    if process.returncode != 0:
        tail = deque(stderr.decode(errors="replace").strip().splitlines(), maxlen=TOOL_STDERR_LINES)
        detail = redact_text(f"{args[0]} exit {process.returncode}: " + " | ".join(tail))
        raise StepFailed(
            f"{what} failed; the hosting team has the technical details.",
            detail=detail[-STDERR_TAIL_CHARS:],
        )


async def copy_postgres(
    source_url: str, target_url: str, report: ProgressCallback, environment: dict[str, str]
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
            {**environment, **source_env},
            "Exporting production data",
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
            {**environment, **target_env},
            "Loading data into the target",
        )
        await report(100, "Data copied")


# --------------------------------------------------------------------------- SQLite


class _BackupStopped(Exception):
    """Raised from the backup's progress callback to abort it (time limit, cancellation)."""


async def copy_sqlite(source_path: str, target_path: str, report: ProgressCallback) -> None:
    """The backup API in a thread; cancelling this (the time limit) aborts the backup at its next
    step and waits for the thread to end, so nothing keeps writing the target afterwards."""
    if not await asyncio.to_thread(Path(source_path).exists):
        raise StepFailed(
            "Production's database could not be found; nothing was copied.",
            retryable=False,
            detail=f"no SQLite file at {source_path}",
        )
    loop = asyncio.get_running_loop()
    updates: asyncio.Queue[tuple[int, int] | None] = asyncio.Queue()
    stop = threading.Event()

    def tell(item: tuple[int, int] | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closing: nobody listens any more
            loop.call_soon_threadsafe(updates.put_nowait, item)

    def progress(status: int, remaining: int, total: int) -> None:
        if stop.is_set():
            raise _BackupStopped
        tell((remaining, total))

    def backup() -> None:
        source = sqlite3.connect(source_path)
        try:
            target = sqlite3.connect(target_path)
            try:
                source.backup(target, pages=SQLITE_PAGES_PER_STEP, progress=progress)
            finally:
                target.close()
        finally:
            source.close()
            tell(None)

    copying = asyncio.ensure_future(asyncio.to_thread(backup))
    try:
        last_percent = -1
        while (update := await updates.get()) is not None:
            remaining, total = update
            percent = 100 if total == 0 else int(100 * (total - remaining) / total)
            if percent != last_percent:
                last_percent = percent
                await report(percent, f"Copied {total - remaining} of {total} pages")
        await copying
    except sqlite3.Error as error:
        raise StepFailed(
            "Copying the data failed; the hosting team has the technical details.",
            detail=redact_text(f"sqlite3: {error}"),
        ) from error
    finally:
        stop.set()
        # The thread cannot be cancelled: wait for it to notice `stop` (one backup step).
        await asyncio.wait({copying})
        if copying.done() and not copying.cancelled():
            copying.exception()  # retrieved: an abort is expected here, not an unhandled error
