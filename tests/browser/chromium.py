"""Helpers to drive Debian's headless Chromium through Playwright, offline.

Reusable by browser tests (this is not a test module). Chromium comes from the
Debian packages installed by ``.ci/install-chromium.sh``; Playwright's own
browser downloads (``playwright install``) are never used.

Typical use::

    async with launch_chromium() as browser:
        page = await offline_page(browser)
        await page.goto(f"http://127.0.0.1:{port}/graphql")
        ...
        assert page.blocked_requests == []
"""

from __future__ import annotations

import ipaddress
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from playwright.async_api import Browser, Page, Route, WebSocketRoute, async_playwright

__all__ = [
    "CHROMIUM_ARGS",
    "LOOPBACK_HOSTS",
    "OfflinePage",
    "chromium_available",
    "chromium_path",
    "is_loopback_url",
    "launch_chromium",
    "offline_page",
]

#: Flags for a quiet, sandbox-less headless Chromium that calls no Google service.
CHROMIUM_ARGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

#: Host names a page opened by :func:`offline_page` may reach (plus any loopback IP).
LOOPBACK_HOSTS: frozenset[str] = frozenset({"127.0.0.1", "localhost", "::1"})

# URL schemes that never touch the network.
_LOCAL_SCHEMES = frozenset({"data", "blob", "about"})


def chromium_path() -> str | None:
    """Return the path of the Chromium executable, or ``None`` if absent."""
    found = shutil.which("chromium")
    if found:
        return found
    default = Path("/usr/bin/chromium")
    if default.is_file() and os.access(default, os.X_OK):
        return str(default)
    return None


def chromium_available() -> bool:
    """Tell whether a Chromium executable is installed."""
    return chromium_path() is not None


@asynccontextmanager
async def launch_chromium() -> AsyncIterator[Browser]:
    """Launch headless Debian Chromium via Playwright and yield the Browser.

    Raises ``RuntimeError`` when Chromium is not installed.
    """
    executable = chromium_path()
    if executable is None:
        raise RuntimeError("Chromium not found: run .ci/install-chromium.sh (Debian package 'chromium')")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            args=list(CHROMIUM_ARGS),
        )
        try:
            yield browser
        finally:
            await browser.close()


def is_loopback_url(url: str) -> bool:
    """Tell whether fetching ``url`` stays on this machine (loopback or no network)."""
    parts = urlsplit(url)
    if parts.scheme in _LOCAL_SCHEMES:
        return True
    host = (parts.hostname or "").lower()
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback  # 127.0.0.0/8, ::1
    except ValueError:
        return False  # a DNS name, e.g. 127.example.com


class OfflinePage(Page):
    """Typing aid: a Playwright ``Page`` with a ``blocked_requests`` list.

    Instances are real Playwright pages returned by :func:`offline_page`;
    ``blocked_requests`` holds the URLs of every aborted non-loopback request.
    """

    blocked_requests: list[str]


async def offline_page(browser: Browser, **context_options: Any) -> OfflinePage:
    """Open a new context and page whose non-loopback requests are aborted.

    ``context_options`` go to ``browser.new_context`` (e.g. ``timezone_id``, ``viewport``).

    Each aborted URL is appended to the page's ``blocked_requests`` list, so a
    test can assert ``page.blocked_requests == []``. Closing the page's context
    (``await page.context.close()``) releases it; closing the browser does too.
    """
    context = await browser.new_context(service_workers="block", **context_options)
    blocked: list[str] = []

    async def guard(route: Route) -> None:
        url = route.request.url
        if is_loopback_url(url):
            await route.continue_()
        else:
            blocked.append(url)
            await route.abort("blockedbyclient")

    async def guard_web_socket(ws: WebSocketRoute) -> None:
        # Never connected to the server: record it and close it.
        blocked.append(ws.url)
        await ws.close(code=1008, reason="blocked by offline_page")

    await context.route("**/*", guard)
    # WebSockets bypass context.route(); refuse non-loopback ones too.
    await context.route_web_socket(lambda url: not is_loopback_url(url), guard_web_socket)
    page = await context.new_page()
    page.blocked_requests = blocked  # type: ignore[attr-defined]
    return cast(OfflinePage, page)
