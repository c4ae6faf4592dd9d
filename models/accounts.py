"""Switching an account off and on. A switched-off account's tokens stop working at once (every
sign-in asks `Account.active`); switched on again, its tokens that are neither revoked nor expired
work again."""

from __future__ import annotations

from models.tables import Account


async def set_active(account_id: int, active: bool) -> bool:
    """Switch the account on or off; False when it already was."""
    updated = await Account.filter(id=account_id, active=not active).update(active=active)
    return updated == 1
