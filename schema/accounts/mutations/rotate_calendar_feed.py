"""rotateCalendarFeed: a new secret for the caller's calendar feed URL; the old one stops working."""

from __future__ import annotations

from typing import cast

from resolvers import accounts
from resolvers.context import Info
from schema.accounts.types import Viewer


async def rotate_calendar_feed(info: Info) -> Viewer:
    return cast(Viewer, await accounts.rotate_calendar_feed(info.context))
