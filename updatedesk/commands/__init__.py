"""The `updatedesk` subcommands that work on the database, one module per area; `updatedesk.cli`
parses the command line and calls them. Each prints its outcome on stdout and raises
`CommandError` for a refusal (one line on stderr, exit status 2)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from infra.db import close_orm, init_orm
from infra.settings import Settings
from models.tables import Account


class CommandError(Exception):
    """A refusal worth one line on stderr."""


async def with_orm(settings: Settings, work: Callable[[], Awaitable[None]]) -> None:
    await init_orm(settings)
    try:
        await work()
    finally:
        await close_orm()


async def account_by_email(email: str) -> Account:
    account = await Account.get_or_none(email=email.strip().lower())
    if account is None:
        raise CommandError(f"no account with e-mail {email}; import it first")
    return account
