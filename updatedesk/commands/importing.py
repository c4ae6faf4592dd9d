"""`updatedesk import [--dry-run] FILE` and `updatedesk migrate`."""

from __future__ import annotations

from pathlib import Path

from infra.db import apply_migrations, close_orm
from infra.settings import Settings
from updatedesk.commands import with_orm
from updatedesk.importer import import_file


async def migrate(settings: Settings) -> None:
    try:
        await apply_migrations(settings)
    finally:
        await close_orm()
    print("Database is up to date.")


async def import_(settings: Settings, path: Path, dry_run: bool) -> None:
    async def work() -> None:
        report = await import_file(path, dry_run=dry_run)
        for line in report.lines(str(path)):
            print(line)

    await with_orm(settings, work)
