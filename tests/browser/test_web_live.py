"""The page's WebSocket after a dropped connection: it subscribes again from the last event's
cursor, so what changed while it was away shows without reloading the list (or the page), and
it says it caught up; a cursor the server no longer keeps makes it reload the list and say so."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import Browser, expect

from tests.browser.live_support import (
    CANCEL,
    CAUGHT_UP,
    INTERRUPTED,
    MARKER,
    RELOADED,
    SET_STATUS,
    TOO_OLD,
    SocketProxy,
    back_to_queue_then_cancelled,
    follow_lakeside,
)
from tests.browser.web_page import STAFF, TC, open_page, request_item, status_of
from tests.browser.web_server import WebServer, district_id, request_via_api

pytestmark = pytest.mark.browser


async def test_resumes_from_the_last_cursor_without_reloading_and_says_it_caught_up(
    browser: Browser, web: WebServer
) -> None:
    lakeside = await district_id(web, TC, "Lakeside Public Schools")
    async with open_page(browser, web) as page:
        proxy, list_reads = await follow_lakeside(page, web)
        assert [s["payload"]["variables"]["after"] for s in proxy.subscribes] == [None]
        # Created after the list was read: only its CREATED event shows it (and gives a cursor).
        seen = await request_via_api(web, TC, lakeside, kind="DATABASE_REFRESH", environment="STAGING")
        await expect(status_of(request_item(page, seen))).to_have_text("To Be Scheduled")

        await proxy.drop()
        await expect(page.get_by_role("status")).to_have_text(INTERRUPTED)
        # While the page has no connection: a move of a row it shows, and a new request.
        moved = await web.gql(STAFF, SET_STATUS, id=seen, status="PENDING_INPUT", message="Which sandbox?")
        assert moved["setUpdateRequestStatus"]["errors"] == []
        missed = await request_via_api(web, TC, lakeside, kind="DATABASE_REFRESH", environment="SANDBOX")
        await expect(status_of(request_item(page, seen))).to_have_text("To Be Scheduled")
        await expect(request_item(page, missed)).to_have_count(0)

        proxy.down = False
        await expect(status_of(request_item(page, seen))).to_have_text("Pending Input")
        await expect(request_item(page, seen)).to_contain_text("Which sandbox?")
        await expect(status_of(request_item(page, missed))).to_have_text("To Be Scheduled")
        await expect(page.get_by_role("status")).to_have_text(CAUGHT_UP)
        await expect(page.get_by_text("Live updates: on")).to_be_visible()
        # Replayed from the cursor: the subscribe carried one, the list was not read again and
        # the page was not loaded again.
        resumed = proxy.subscribes[-1]["payload"]["variables"]
        assert len(proxy.subscribes) == 2 and resumed["after"], proxy.subscribes
        assert len(list_reads) == 1, list_reads
        assert await page.evaluate(MARKER) == "the same page"

        # The resumed subscription keeps following the district.
        assert (await web.gql(TC, CANCEL, id=missed))["cancelUpdateRequest"]["errors"] == []
        await expect(request_item(page, missed)).to_have_count(0)
        await back_to_queue_then_cancelled(web, page, seen)


async def test_a_cursor_no_longer_kept_reloads_the_list_and_says_so(browser: Browser, web: WebServer) -> None:
    lakeside = await district_id(web, TC, "Lakeside Public Schools")
    async with open_page(browser, web) as page:
        proxy, list_reads = await follow_lakeside(page, web)
        seen = await request_via_api(web, TC, lakeside, kind="DATABASE_REFRESH", environment="STAGING")
        await expect(request_item(page, seen)).to_have_count(1)  # its event gave the page a cursor

        proxy.rewrite_after = TOO_OLD
        await proxy.drop()
        await expect(page.get_by_role("status")).to_have_text(INTERRUPTED)
        missed = await request_via_api(web, TC, lakeside, kind="DATABASE_REFRESH", environment="SANDBOX")

        proxy.down = False
        await expect(page.get_by_role("status")).to_have_text(RELOADED)
        await expect(status_of(request_item(page, missed))).to_have_text("To Be Scheduled")
        assert proxy.subscribes[-1]["payload"]["variables"]["after"] == TOO_OLD
        assert len(list_reads) == 2, list_reads
        assert await page.evaluate(MARKER) == "the same page"
        for request_id in (seen, missed):
            assert (await web.gql(TC, CANCEL, id=request_id))["cancelUpdateRequest"]["errors"] == []
        await expect(request_item(page, missed)).to_have_count(0)


async def test_no_change_falls_between_the_first_list_and_the_subscription(
    browser: Browser, web: WebServer
) -> None:
    """The list is read only once the server listens: a change made while the page's subscribe
    is still on its way shows (read with the list, or as an event), never lost between them."""
    lakeside = await district_id(web, TC, "Lakeside Public Schools")
    moving = await request_via_api(web, TC, lakeside, kind="DATABASE_REFRESH", environment="STAGING")
    async with open_page(browser, web) as page:
        proxy = SocketProxy(hold_subscribes=True)
        signing_in = asyncio.create_task(follow_lakeside(page, web, proxy))
        async with asyncio.timeout(20):
            await proxy.holding.wait()  # the page has subscribed; the server has not heard it
        moved = await web.gql(STAFF, SET_STATUS, id=moving, status="PENDING_INPUT", message="Which one?")
        assert moved["setUpdateRequestStatus"]["errors"] == []
        proxy.release()
        await signing_in
        await expect(status_of(request_item(page, moving))).to_have_text("Pending Input")

        await back_to_queue_then_cancelled(web, page, moving)


async def test_a_drop_before_any_event_reloads_the_list(browser: Browser, web: WebServer) -> None:
    """Without a cursor there is nothing to resume from: what was missed comes with a reload."""
    lakeside = await district_id(web, TC, "Lakeside Public Schools")
    async with open_page(browser, web) as page:
        proxy, list_reads = await follow_lakeside(page, web)
        await proxy.drop()
        await expect(page.get_by_role("status")).to_have_text(INTERRUPTED)
        missed = await request_via_api(web, TC, lakeside, kind="DATABASE_REFRESH", environment="STAGING")

        proxy.down = False
        await expect(page.get_by_role("status")).to_have_text(RELOADED)
        await expect(status_of(request_item(page, missed))).to_have_text("To Be Scheduled")
        assert [s["payload"]["variables"]["after"] for s in proxy.subscribes] == [None, None]
        assert len(list_reads) == 2, list_reads
        assert await page.evaluate(MARKER) == "the same page"
        assert (await web.gql(TC, CANCEL, id=missed))["cancelUpdateRequest"]["errors"] == []
        await expect(request_item(page, missed)).to_have_count(0)
