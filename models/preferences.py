"""Choices saved per account."""

from __future__ import annotations

from models.tables import Account


async def set_hide_completed(account_id: int, hide_completed: bool) -> None:
    """Save the "Hide Complete" checkbox: lists hide completed requests unless a query says otherwise."""
    await Account.filter(id=account_id).update(hide_completed=hide_completed)
