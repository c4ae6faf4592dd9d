"""setPreferences: save the caller's "Hide Complete" choice."""

from __future__ import annotations

from typing import cast

from resolvers import accounts
from resolvers.context import Info
from schema.accounts.types import Preferences


async def set_preferences(info: Info, hide_completed: bool) -> Preferences:
    return cast(Preferences, await accounts.set_preferences(info.context, hide_completed))
