"""setPreferences: save the caller's "Hide Complete" choice and which notices it is sent."""

from __future__ import annotations

from typing import cast

from resolvers import accounts
from resolvers.context import Info
from schema.accounts.types import Preferences
from schema.enums import NotifyPreference


async def set_preferences(
    info: Info, hide_completed: bool | None = None, notify: NotifyPreference | None = None
) -> Preferences:
    """Choices left out stay as they were."""
    return cast(Preferences, await accounts.set_preferences(info.context, hide_completed, notify))
