"""`updatedesk import [--dry-run] FILE` and `updatedesk migrate [--wait SECONDS]`."""

from __future__ import annotations

from pathlib import Path

from infra.db import apply_migrations, close_orm
from infra.dbwait import DatabaseUnreachable, retry_until_reachable, say_waiting
from infra.settings import Settings
from updatedesk.commands import CommandError, with_orm
from updatedesk.importer import import_file


async def migrate(settings: Settings, wait_seconds: float = 0.0) -> None:
    """Apply migrations; with `wait_seconds`, retry while the database is not reachable yet."""

    async def attempt() -> None:
        try:
            await apply_migrations(settings)
        finally:
            await close_orm()

    try:
        await retry_until_reachable(attempt, wait_seconds, on_retry=say_waiting)
    except DatabaseUnreachable as error:
        hint = "" if wait_seconds else "; `migrate --wait SECONDS` waits for it to come up"
        raise CommandError(f"{error}{hint}") from None
    print("Database is up to date.")


async def import_(settings: Settings, path: Path, dry_run: bool) -> None:
    async def work() -> None:
        report = await import_file(path, dry_run=dry_run)
        for line in report.lines(str(path)):
            print(line)

    await with_orm(settings, work)
