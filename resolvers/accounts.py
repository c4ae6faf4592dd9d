"""The signed-in caller, accounts by id, saved preferences, and the caller's calendar feed."""

from __future__ import annotations

from models.calendar_feed import feed_key, feed_secret, rotate_feed
from models.enums import NotifyPreference
from models.preferences import effective_notify, set_hide_completed, set_notify
from models.tables import Account, District
from resolvers.access import visible_district
from resolvers.context import GraphQLContext

#: Where the feed is served, below the service's base URL (the route is `updatedesk.calendar`).
CALENDAR_FEED_PATH = "calendar/{secret}.ics"
WEB_SCHEMES = {"ws": "http", "wss": "https"}


def viewer(context: GraphQLContext) -> Account:
    return context.account


async def districts_of_account(context: GraphQLContext, account: Account) -> list[District]:
    """The districts `account` acts for that the caller may also see, by name."""
    ids = await context.loaders.district_ids_of_account.load(account.id)
    rows = [await visible_district(context, pk) for pk in ids]
    return sorted((row for row in rows if row is not None), key=lambda row: row.name)


async def set_preferences(
    context: GraphQLContext, hide_completed: bool | None, notify: NotifyPreference | None
) -> Account:
    """Save the choices given; the others stay as they were."""
    account = context.account
    if hide_completed is not None:
        await set_hide_completed(account.id, hide_completed)
        # Later fields of this request (viewer.preferences, list defaults) see the new choice.
        account.hide_completed = hide_completed
    if notify is not None:
        await set_notify(account.id, notify)
        account.notify = notify
    return account


def notify_of(account: Account) -> NotifyPreference:
    return effective_notify(account.role, account.notify)


async def _key(context: GraphQLContext) -> bytes:
    configured = context.settings.calendar_feed_key
    return await feed_key(configured.get_secret_value() if configured else None)


def _feed_url(context: GraphQLContext, secret: str) -> str:
    # The request's own base URL: behind a proxy, uvicorn's proxy headers make it the public one.
    # A query sent over the WebSocket has a ws(s) base: the feed itself is plain HTTP(S).
    base = context.request.base_url
    base = base.replace(scheme=WEB_SCHEMES.get(base.scheme, base.scheme))
    return str(base) + CALENDAR_FEED_PATH.format(secret=secret)


async def calendar_feed_url(context: GraphQLContext, account: Account) -> str:
    """The caller's private feed URL (only ever the caller's own: Viewer is the caller)."""
    return _feed_url(context, await feed_secret(account.id, await _key(context)))


async def rotate_calendar_feed(context: GraphQLContext) -> Account:
    """A new feed secret for the caller; the old URL stops working at once."""
    account = context.account
    await rotate_feed(account.id, await _key(context))
    return account
