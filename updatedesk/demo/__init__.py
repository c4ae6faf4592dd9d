"""Demo data for `updatedesk dev` and `updatedesk bootstrap`: a small world (`world`) whose recent
past (`history`) shows every status of a request, with history, progress and site versions, made
through the domain's own functions (`replay`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.transactions import in_transaction

from models.clock import utcnow
from models.tables import Account, District
from models.tokens import issue_token
from updatedesk.demo.history import write_history
from updatedesk.demo.world import DEMO_DOCUMENT, STAFF_EMAIL
from updatedesk.importer import import_document

__all__ = [
    "DEMO_DOCUMENT",
    "DEMO_TOKEN_LIFETIME",
    "STAFF_EMAIL",
    "DemoLogin",
    "database_is_empty",
    "issue_demo_tokens",
    "load_demo",
    "load_demo_if_empty",
]

#: Demo tokens live as long as a demo is likely to; real tokens come from `updatedesk tokens issue`.
DEMO_TOKEN_LIFETIME = timedelta(days=30)


@dataclass(frozen=True)
class DemoLogin:
    email: str
    role: str
    token: str


async def database_is_empty() -> bool:
    """No districts and no accounts yet (the maintenance window a migration seeds does not count)."""
    return not await District.exists() and not await Account.exists()


async def load_demo(now: datetime | None = None) -> None:
    """Import the demo world, then write its history up to `now` (whole seconds: it reads better).

    One transaction (the domain's own nest inside it): a scheduler already running, as in
    compose, never sees half a demo (it would dispatch the demo's due requests under it), and a
    failure leaves the database empty, ready for another try."""
    async with in_transaction():
        await import_document(DEMO_DOCUMENT)
        await write_history((now or utcnow()).replace(microsecond=0))


async def load_demo_if_empty(now: datetime | None = None) -> bool:
    """Load the demo into an empty database; leave a database with data alone."""
    if not await database_is_empty():
        return False
    await load_demo(now)
    return True


async def issue_demo_tokens() -> list[DemoLogin]:
    """A fresh token per demo account (tokens are stored hashed, so old ones cannot be shown)."""
    emails = [entry["email"] for entry in DEMO_DOCUMENT["accounts"]]
    logins = []
    for account in await Account.filter(email__in=emails).order_by("id"):
        logins.append(
            DemoLogin(account.email, account.role.value, await issue_token(account, DEMO_TOKEN_LIFETIME))
        )
    return logins
