"""`updatedesk tokens issue | list | revoke`."""

from __future__ import annotations

from datetime import datetime, timedelta

from infra.settings import Settings
from models.tables import ApiToken
from models.tokens import account_tokens, find_token, issue_token, revoke_token_id
from updatedesk.commands import CommandError, account_by_email, with_orm

NEVER = "-"


async def issue(settings: Settings, email: str, expires_in_days: float | None) -> None:
    """Print a new token, one line, nothing else."""

    async def work() -> None:
        account = await account_by_email(email)
        if not account.active:
            raise CommandError(f"the account {email} is deactivated")
        days = expires_in_days if expires_in_days is not None else settings.token_days
        print(await issue_token(account, timedelta(days=days)))

    await with_orm(settings, work)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else NEVER


def token_table(tokens: list[ApiToken]) -> list[str]:
    """id, created, expires, last used, revoked: never the token (only its hash is stored)."""
    header = ("id", "created", "expires", "last used", "revoked")
    rows = [
        (str(t.id), _when(t.created_at), _when(t.expires_at), _when(t.last_used_at), _when(t.revoked_at))
        for t in tokens
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in [header, *rows]
    ]


async def list_tokens(settings: Settings, email: str) -> None:
    async def work() -> None:
        account = await account_by_email(email)
        tokens = await account_tokens(account.id)
        if not tokens:
            print(f"{account.email} has no tokens.")
            return
        if not account.active:
            print(f"{account.email} is deactivated: none of these tokens works.")
        for line in token_table(tokens):
            print(line)

    await with_orm(settings, work)


async def revoke(settings: Settings, token_or_id: str) -> None:
    async def work() -> None:
        token = await find_token(token_or_id)
        if token is None:
            raise CommandError("no such token: give the token itself (ud_...) or its id from `tokens list`")
        await token.fetch_related("account")
        if await revoke_token_id(token.id):
            print(
                f"Revoked token {token.id} of {token.account.email}; "
                "its open connections close within a second."
            )
        else:
            print(f"Token {token.id} of {token.account.email} was already revoked.")

    await with_orm(settings, work)
