"""The `updatedesk` command. Refusals print one line and exit with status 2, never a traceback."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path

from pydantic import ValidationError

from infra.db import apply_migrations, close_orm, init_orm
from infra.dbwait import DatabaseUnreachable, retry_until_reachable, say_waiting
from infra.logs import configure_logging
from infra.settings import Settings, load_settings
from models.errors import DomainError
from models.tables import Account
from models.tokens import issue_token
from updatedesk.importer import ImportFileError, import_file
from updatedesk.refusals import CommandRefused
from workers.heartbeat import ROLES

#: Exit status for a refusal the user can fix (bad file, unknown account, bad argument).
EXIT_USAGE = 2


class CommandError(Exception):
    """A refusal worth one line on stderr."""


async def _with_orm(settings: Settings, work: Callable[[], Awaitable[None]]) -> None:
    await init_orm(settings)
    try:
        await work()
    finally:
        await close_orm()


async def migrate_command(settings: Settings, wait_seconds: float = 0.0) -> None:
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


async def import_command(settings: Settings, path: Path) -> None:
    async def work() -> None:
        counts = await import_file(path)
        print(f"Imported {path}: {counts.summary()}")

    await _with_orm(settings, work)


async def issue_token_command(settings: Settings, email: str, expires_in_days: float | None) -> None:
    async def work() -> None:
        account = await Account.get_or_none(email=email.strip().lower())
        if account is None:
            raise CommandError(f"no account with e-mail {email}; import it first")
        if not account.active:
            raise CommandError(f"the account {email} is deactivated")
        days = expires_in_days if expires_in_days is not None else settings.token_days
        print(await issue_token(account, timedelta(days=days)))

    await _with_orm(settings, work)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds") from None
    if value < 0:
        raise argparse.ArgumentTypeError("seconds cannot be negative")
    return value


def _positive_days(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of days") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("--expires-in must be a positive number of days")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="updatedesk", description="Manage Updates back end.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    dev = commands.add_parser("dev", help="run everything in one process on the embedded default")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=8000)
    dev.add_argument("--reset", action="store_true", help="start over: delete the SQLite file first")
    serve = commands.add_parser("serve", help="run an API process")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    worker = commands.add_parser("worker", help="run dramatiq worker processes")
    worker.add_argument("--processes", type=int, default=None)
    worker.add_argument("--threads", type=int, default=None)
    commands.add_parser("scheduler", help="run the dispatch loop")
    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.add_argument(
        "--wait",
        type=_seconds,
        default=0.0,
        metavar="SECONDS",
        help="retry while the database is not reachable yet, up to SECONDS",
    )
    health = commands.add_parser("healthcheck", help="exit 0 if the worker or scheduler heartbeat is fresh")
    health.add_argument("role", choices=ROLES)
    health.add_argument("--max-age", type=_seconds, default=None, metavar="SECONDS")
    importer = commands.add_parser(
        "import", help="upsert groups, districts, releases, accounts from JSON/YAML"
    )
    importer.add_argument("file", type=Path)
    bootstrap = commands.add_parser(
        "bootstrap", help="load the demo (or FILE) into an empty database; print a staff token"
    )
    bootstrap.add_argument("file", type=Path, nargs="?", help="a catalog in the format of `import`")
    bootstrap.add_argument("--expires-in", type=_positive_days, default=None, metavar="DAYS")
    tokens = commands.add_parser("tokens", help="manage API tokens")
    token_commands = tokens.add_subparsers(dest="tokens_command", required=True, metavar="ACTION")
    issue = token_commands.add_parser("issue", help="print a new token for an account")
    issue.add_argument("email")
    issue.add_argument("--expires-in", type=_positive_days, default=None, metavar="DAYS")
    return parser


def run(args: argparse.Namespace, settings: Settings) -> None:
    if args.command == "migrate":
        asyncio.run(migrate_command(settings, args.wait))
    elif args.command == "healthcheck":
        from workers.heartbeat import healthcheck

        sys.exit(healthcheck(settings, args.role, args.max_age))
    elif args.command == "import":
        asyncio.run(import_command(settings, args.file))
    elif args.command == "bootstrap":
        from updatedesk.bootstrap import bootstrap_command

        asyncio.run(bootstrap_command(settings, args.file, args.expires_in))
    elif args.command == "tokens":
        asyncio.run(issue_token_command(settings, args.email, args.expires_in))
    elif args.command == "serve":
        from updatedesk.app import serve

        configure_logging(json=settings.log_json)
        serve(args.host, args.port, settings)
    elif args.command == "worker":
        from updatedesk.cli_workers import run_worker

        configure_logging(json=settings.log_json)
        sys.exit(run_worker(settings, args.processes, args.threads))
    elif args.command == "scheduler":
        from updatedesk.cli_workers import run_scheduler

        configure_logging(json=settings.log_json)
        sys.exit(run_scheduler(settings))
    elif args.command == "dev":
        from updatedesk.dev import run_dev

        run_dev(settings, args.host, args.port, reset=args.reset)


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        run(args, settings)
    except (CommandError, CommandRefused, ImportFileError, DomainError) as error:
        print(f"updatedesk: error: {error}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        print(f"updatedesk: error: bad setting: {problems}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
