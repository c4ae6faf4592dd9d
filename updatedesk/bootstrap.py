"""`updatedesk bootstrap [FILE]`: a way in to a new deployment, safe to run on every start.

Migrates, loads the demo world (or FILE, in the format of `updatedesk import`) into an empty
database, and prints a new token of a hosting-staff account: the one line on stdout, like
`tokens issue`. A database that already has districts or accounts is left as it is (nothing is
loaded); the token is printed all the same. What it did goes to stderr.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from infra.db import apply_migrations, close_orm, init_orm
from infra.settings import Settings
from models.enums import Role
from models.tables import Account
from models.tokens import issue_token
from updatedesk.commands import CommandError
from updatedesk.demo import database_is_empty, load_demo
from updatedesk.importer import import_document, load_document

STAFF_ROLE = Role.HOSTING_STAFF.value


def _say(text: str) -> None:
    print(f"bootstrap: {text}", file=sys.stderr, flush=True)


def _has_active_staff(document: dict[str, Any]) -> bool:
    accounts = document.get("accounts") or []
    return isinstance(accounts, list) and any(
        isinstance(entry, dict) and entry.get("role") == STAFF_ROLE and entry.get("active", True) is not False
        for entry in accounts
    )


async def _load(path: Path | None) -> None:
    """Load FILE or the demo into the (empty) database."""
    if path is None:
        await load_demo()
        _say("loaded the demo world (districts, accounts and requests in every status)")
        return
    document = load_document(path)
    if not _has_active_staff(document):
        # Refused before anything is written: without a staff account nobody could get in.
        raise CommandError(
            f"{path} has no active {STAFF_ROLE} account; add one to its `accounts` so bootstrap can "
            "print its token"
        )
    counts = await import_document(document)
    _say(f"imported {path}: {counts.summary()}")


async def bootstrap_command(settings: Settings, path: Path | None, expires_in_days: float | None) -> None:
    try:
        await apply_migrations(settings)
    finally:
        await close_orm()
    await init_orm(settings)
    try:
        if await database_is_empty():
            await _load(path)
        else:
            kept = f"; {path} not imported (use `updatedesk import {path}`)" if path else ""
            _say(f"the database already has data: left as it is{kept}")
        staff = await Account.filter(role=Role.HOSTING_STAFF, active=True).order_by("id").first()
        if staff is None:
            raise CommandError(
                f"no active {STAFF_ROLE} account; import one with `updatedesk import FILE`, then "
                "`updatedesk tokens issue EMAIL`"
            )
        days = expires_in_days if expires_in_days is not None else settings.token_days
        token = await issue_token(staff, timedelta(days=days))
        _say(
            f"a new token of {staff.email} ({STAFF_ROLE}), valid {days:g} days, follows; "
            f"another one at any time: `updatedesk tokens issue {staff.email}`"
        )
        print(token, flush=True)
    finally:
        await close_orm()
