"""Routes of the Manage Updates page: the HTML shell at `/` with a strict Content-Security-Policy,
its static files under `/web/`, and the demo accounts of `updatedesk dev` (404 everywhere else)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "DEMO_ACCOUNTS_PATH",
    "STATIC_DIR",
    "STATIC_PREFIX",
    "enable_demo_sign_in",
    "web_routes",
]

#: app.css, js/ (the page's modules) and vendor/ (lit-html, graphql-ws).
STATIC_DIR = Path(__file__).resolve().parent / "static"
#: The HTML shell, kept outside STATIC_DIR so it is only ever served with PAGE_HEADERS.
PAGE_FILE = Path(__file__).resolve().parent / "index.html"
STATIC_PREFIX = "/web"
DEMO_ACCOUNTS_PATH = "/dev/demo-accounts"

#: Scripts and styles only from this server, no inline script or style, no framing. `'self'` in
#: connect-src covers the same-origin WebSocket (ws:/wss:) in current browsers (CSP Level 3).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # The shell is tiny and changes with each release; the modules are revalidated too.
    "Cache-Control": "no-cache",
}

#: Name under `app.state` of the demo logins that `updatedesk dev` hands to the page.
_DEMO_STATE = "web_demo_logins"


async def index(request: Request) -> Response:
    return FileResponse(PAGE_FILE, headers=PAGE_HEADERS, media_type="text/html")


async def demo_accounts(request: Request) -> Response:
    """The demo accounts and their tokens, as one-click sign-in for the page: only when
    `updatedesk dev` enabled them (it prints the same tokens on its console)."""
    logins: Sequence[Any] | None = getattr(request.app.state, _DEMO_STATE, None)
    if logins is None:
        return JSONResponse({"detail": "Not Found"}, status_code=404)
    accounts = [{"email": x.email, "role": x.role, "token": x.token} for x in logins]
    return JSONResponse({"accounts": accounts}, headers={"Cache-Control": "no-store"})


def enable_demo_sign_in(app: Starlette, logins: Sequence[Any]) -> None:
    """`updatedesk dev` only: offer these logins (objects with email, role, token) on the page."""
    setattr(app.state, _DEMO_STATE, list(logins))


def web_routes() -> list[BaseRoute]:
    return [
        Route("/", index, methods=["GET"]),
        Route(DEMO_ACCOUNTS_PATH, demo_accounts, methods=["GET"]),
        Mount(STATIC_PREFIX, app=StaticFiles(directory=STATIC_DIR), name="web-static"),
    ]
