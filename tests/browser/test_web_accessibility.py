"""axe-core finds no serious or critical problem on the Manage Updates page (sign-in, district
page with requests, the request form, the staff queue and its dialogs) at 1280 and 390 px wide;
the run saves a screenshot of each into tests/browser/screenshots/ (gitignored). The page works
by keyboard alone and shows where the focus is."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.web_page import (
    NARROW,
    STAFF,
    TC,
    WIDE,
    open_page,
    screenshot,
    serious_accessibility_problems,
    signed_in,
)
from tests.browser.web_server import WebServer, district_id, request_via_api

pytestmark = pytest.mark.browser


async def check(page: Page, web: WebServer, name: str) -> None:
    await screenshot(page, web, name)
    assert await serious_accessibility_problems(page) == [], name
    # Nothing sticks out sideways (tidy at 390 px too).
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), name


@pytest.mark.parametrize("width", [WIDE, NARROW], ids=["1280px", "390px"])
async def test_pages_have_no_serious_accessibility_problems(
    browser: Browser, web: WebServer, width: int
) -> None:
    lakeside = await district_id(web, TC, "Lakeside Public Schools")
    await request_via_api(  # the same key again (the other width) returns the same request
        web,
        TC,
        lakeside,
        kind="VERSION_UPDATE",
        environment="PRODUCTION",
        targetVersion="Campus.2439.1",
        idempotencyKey="accessibility-scan",
    )

    async with open_page(browser, web, width=width) as page:
        await expect(page.get_by_role("button", name=f"Sign in as {TC}")).to_be_visible()
        await check(page, web, f"sign-in-{width}")

    async with signed_in(browser, web, TC, width=width) as page:
        await expect(page.locator("li.request").first).to_be_visible()
        await page.locator("li.request details summary").first.click()  # one history open
        await check(page, web, f"district-{width}")
        await page.get_by_role("button", name="Request update").click()
        await expect(page.get_by_role("dialog", name="Request update")).to_be_visible()
        await check(page, web, f"request-form-{width}")

    async with signed_in(browser, web, STAFF, width=width) as page:
        await page.get_by_label("Status", exact=True).select_option("")
        await expect(page.locator("li.request").first).to_be_visible()
        await check(page, web, f"staff-queue-{width}")
        await page.get_by_role("button", name="Schedule").first.click()
        await expect(page.get_by_role("dialog", name="Schedule")).to_be_visible()
        # Scanned with the pre-flight's answer for the chosen slot shown.
        await expect(page.locator("#sf-start-check")).to_contain_text(re.compile("conflict", re.IGNORECASE))
        await check(page, web, f"staff-schedule-{width}")


async def test_keyboard_alone_requests_an_update_with_visible_focus(browser: Browser, web: WebServer) -> None:
    async with open_page(browser, web) as page:
        # Tab to the demo account and press Enter.
        target = page.get_by_role("button", name=f"Sign in as {TC}")
        await expect(target).to_be_visible()
        for _ in range(20):
            await page.keyboard.press("Tab")
            if await target.evaluate("button => button === document.activeElement"):
                break
        await expect(target).to_be_focused()
        outline = await target.evaluate("button => getComputedStyle(button).outlineStyle")
        assert outline != "none"  # focus is visible
        await page.keyboard.press("Enter")
        await expect(page.get_by_text("Live updates: on")).to_be_visible()

        request = page.get_by_role("button", name="Request update")
        for _ in range(40):
            await page.keyboard.press("Tab")
            if await request.evaluate("button => button === document.activeElement"):
                break
        await expect(request).to_be_focused()
        await page.keyboard.press("Enter")
        form = page.get_by_role("dialog", name="Request update")
        await expect(form.get_by_label("Kind")).to_be_focused()  # the dialog takes the focus
        await page.keyboard.press("Escape")
        await expect(form).to_be_hidden()
        await expect(request).to_be_focused()  # and gives it back
