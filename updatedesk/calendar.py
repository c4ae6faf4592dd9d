"""`GET /calendar/<secret>.ics`: an account's private calendar feed, for calendar apps to subscribe
to. The secret in the path is the only credential; anything that is not a current secret of an
active account is a bare 404, the same for a malformed, unknown, rotated or deactivated one."""

from __future__ import annotations

import hashlib

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from infra.settings import Settings
from models.calendar_feed import account_of_secret, feed_key, feed_of
from resolvers.accounts import CALENDAR_FEED_PATH

#: The URL `Viewer.calendarFeedUrl` gives, below the service's base URL.
CALENDAR_ROUTE = "/" + CALENDAR_FEED_PATH
CALENDAR_MEDIA_TYPE = "text/calendar"  # Starlette adds "; charset=utf-8" to text/ types
#: Calendar apps poll; a private (per-person) answer that may be reused for a few minutes.
CACHE_CONTROL = "private, max-age=300"


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison against an If-None-Match list (or `*`)."""
    if not if_none_match:
        return False
    candidates = [tag.strip() for tag in if_none_match.split(",")]
    return "*" in candidates or etag in [tag.removeprefix("W/") for tag in candidates]


async def calendar_feed(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    configured = settings.calendar_feed_key.get_secret_value() if settings.calendar_feed_key else None
    account = await account_of_secret(request.path_params["secret"], await feed_key(configured))
    if account is None:
        return PlainTextResponse("Not Found", status_code=404)
    body = await feed_of(account)
    etag = _etag(body)
    headers = {
        "ETag": etag,
        "Cache-Control": CACHE_CONTROL,
        "Content-Disposition": 'inline; filename="campus-hosting.ics"',
        "Referrer-Policy": "no-referrer",  # the URL is the credential
        "X-Content-Type-Options": "nosniff",
    }
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=CALENDAR_MEDIA_TYPE, headers=headers)


def calendar_routes() -> list[Route]:
    return [Route(CALENDAR_ROUTE, calendar_feed, methods=["GET", "HEAD"])]
