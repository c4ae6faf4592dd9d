"""setPreferences: save the caller's "Hide Complete" choice."""

from __future__ import annotations

from models import operations
from resolvers.context import Info
from schema.accounts import Preferences


async def set_preferences(info: Info, hide_completed: bool) -> Preferences:
    account = info.context.account
    await operations.set_hide_completed(account.id, hide_completed)
    # Later fields of this request (viewer.preferences, list defaults) see the new choice.
    account.hide_completed = hide_completed
    return Preferences(hide_completed=hide_completed)
