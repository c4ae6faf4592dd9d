"""Pages of the Manage Updates web front end, opened offline in Chromium, with the checks every
browser test of it makes: no request left the machine, no script error, no CSP violation."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Locator, Page, expect

from tests.browser.chromium import OfflinePage, offline_page
from tests.browser.web_server import WebServer

#: Screenshots of the test run (gitignored): look at them to judge the layout at both widths.
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
AXE_SOURCE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
WIDE, NARROW = 1280, 390
#: Viewer time zone of the tests: not Central, so both times of a scheduled start show.
VIEWER_TIME_ZONE = "Europe/Berlin"
WITHIN_MS = 20_000
#: How often a test asks the server whether the page's subscription is registered yet.
SUBSCRIPTION_POLL_SECONDS = 0.05
expect.set_options(timeout=WITHIN_MS)

TC = "tc@lakeside.example"
STATE = "state@example.gov"
CONSORTIUM = "consortium@rivervalley.example"
PARTNER = "partner@partner.example"
ESA = "esa@esa.example"
VIEWER = "viewer@lakeside.example"
STAFF = "hosting@provider.example"


@asynccontextmanager
async def open_page(
    browser: Browser, web: WebServer, *, width: int = WIDE, time_zone: str = VIEWER_TIME_ZONE
) -> AsyncIterator[OfflinePage]:
    """The page at `/`, not signed in. On exit: nothing left 127.0.0.1 and no script failed."""
    page = await offline_page(browser, timezone_id=time_zone, viewport={"width": width, "height": 900})
    page.set_default_timeout(WITHIN_MS)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(f"console.{message.type}: {message.text}")
            if message.type == "error" and not message.text.startswith("Failed to load resource")
            else None
        ),
    )
    await page.goto(f"{web.url}/")
    try:
        yield page
        assert page.blocked_requests == [], f"the page tried to leave the machine: {page.blocked_requests}"
        assert problems == [], problems
    finally:
        await page.context.close()


@asynccontextmanager
async def signed_in(
    browser: Browser, web: WebServer, email: str, **options: Any
) -> AsyncIterator[OfflinePage]:
    """The page signed in with the dev server's one-click demo account `email`."""
    async with open_page(browser, web, **options) as page:
        before = await web.open_subscriptions()
        await page.get_by_role("button", name=f"Sign in as {email}").click()
        await expect(page.get_by_text("Live updates: on")).to_be_visible()
        await until_subscribed(web, before + 1)
        yield page


async def until_subscribed(web: WebServer, count: int) -> None:
    """Wait until the server holds `count` subscriptions: "Live updates: on" means the socket is
    acknowledged, not that the server has registered the subscription, and a change made in
    between would only show with the request's next event."""
    async with asyncio.timeout(WITHIN_MS / 1000):
        while await web.open_subscriptions() < count:  # noqa: ASYNC110 - another process: no event to await
            await asyncio.sleep(SUBSCRIPTION_POLL_SECONDS)


def request_item(page: Page, request_id: str) -> Locator:
    return page.locator(f'li.request[data-request-id="{request_id}"]')


def status_of(item: Locator) -> Locator:
    return item.locator(".status .word")


async def shown_request_ids(page: Page) -> set[str]:
    ids = await page.locator("li.request").evaluate_all("items => items.map(i => i.dataset.requestId)")
    return set(ids)


async def screenshot(page: Page, web: WebServer, name: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{web.backend}-{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def serious_accessibility_problems(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    # Evaluated through the DevTools protocol, which the page's CSP (script-src 'self') allows.
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(AXE_SOURCE.read_text())
    results = await page.evaluate(
        "async () => JSON.stringify(await axe.run(document, {resultTypes: ['violations']}))"
    )
    violations = json.loads(results)["violations"]
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]
