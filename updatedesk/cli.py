"""The `updatedesk` command. Refusals print one line and exit with status 2, never a traceback."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from infra.logs import configure_logging
from infra.settings import Settings, load_settings
from models.errors import DomainError
from updatedesk.cli_workers import positive_count
from updatedesk.commands import CommandError, accounts, importing, tokens
from updatedesk.importer import ImportFileError
from workers.heartbeat import ROLES

#: Exit status for a refusal the user can fix (bad file, unknown account, bad argument).
EXIT_USAGE = 2


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
    worker.add_argument("--processes", type=positive_count("--processes"), default=None)
    worker.add_argument("--threads", type=positive_count("--threads"), default=None)
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
    importer.add_argument(
        "--dry-run", action="store_true", help="check and report what would change, write nothing"
    )
    bootstrap = commands.add_parser(
        "bootstrap", help="load the demo (or FILE) into an empty database; print a staff token"
    )
    bootstrap.add_argument("file", type=Path, nargs="?", help="a catalog in the format of `import`")
    bootstrap.add_argument("--expires-in", type=_positive_days, default=None, metavar="DAYS")
    token_parser = commands.add_parser("tokens", help="manage API tokens")
    token_commands = token_parser.add_subparsers(dest="tokens_command", required=True, metavar="ACTION")
    issue = token_commands.add_parser("issue", help="print a new token for an account")
    issue.add_argument("email")
    issue.add_argument("--expires-in", type=_positive_days, default=None, metavar="DAYS")
    listing = token_commands.add_parser("list", help="an account's tokens (never the tokens themselves)")
    listing.add_argument("email")
    revoke = token_commands.add_parser("revoke", help="revoke one token; its open connections close")
    revoke.add_argument("token_or_id", metavar="TOKEN_OR_ID")
    account_parser = commands.add_parser("accounts", help="switch accounts off and on")
    account_commands = account_parser.add_subparsers(dest="accounts_command", required=True, metavar="ACTION")
    for action, what in (("deactivate", "switch an account off"), ("activate", "switch an account on")):
        account_commands.add_parser(action, help=what).add_argument("email")
    return parser


def _database_command(args: argparse.Namespace, settings: Settings) -> Coroutine[Any, Any, None] | None:
    """The coroutine of a command that works on the database, or None for a process command."""
    if args.command == "migrate":
        return importing.migrate(settings, args.wait)
    if args.command == "import":
        return importing.import_(settings, args.file, args.dry_run)
    if args.command == "bootstrap":
        from updatedesk.bootstrap import bootstrap_command

        return bootstrap_command(settings, args.file, args.expires_in)
    if args.command == "tokens":
        if args.tokens_command == "issue":
            return tokens.issue(settings, args.email, args.expires_in)
        if args.tokens_command == "list":
            return tokens.list_tokens(settings, args.email)
        return tokens.revoke(settings, args.token_or_id)
    if args.command == "accounts":
        return accounts.switch(settings, args.email, active=args.accounts_command == "activate")
    return None


def run(args: argparse.Namespace, settings: Settings) -> None:
    work = _database_command(args, settings)
    if work is not None:
        asyncio.run(work)
    elif args.command == "healthcheck":
        from workers.heartbeat import healthcheck

        sys.exit(healthcheck(settings, args.role, args.max_age))
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
    except (CommandError, ImportFileError, DomainError) as error:
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
