"""The page's live updates when the server ends them rather than the network: the page keeps
following (it subscribes again from its last cursor) or says that it stopped and why.

- After a failed catch-up the server completes the subscription (`complete`) on a socket that
  stays open: the page says live updates are interrupted and subscribes again from its cursor.
- 1013 (the socket fell behind, or its events could not be made): graphql-ws reconnects; the page resumes with
  `after` = its last cursor and gets exactly the moves it missed.
- 4403 (the token stopped being valid): no retry; the page signs out and says the server's reason.
"""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import Browser, expect

from resolvers.live.outbox import CLOSE_TOO_SLOW, REASON_INCOMPLETE, REASON_TOO_SLOW
from tests.browser.live_support import (
    CANCEL,
    CAUGHT_UP,
    INTERRUPTED,
    MARKER,
    RELOADED,
    SET_STATUS,
    SocketProxy,
    back_to_queue_then_cancelled,
    follow_lakeside,
)
from tests.browser.web_page import STAFF, TC, WITHIN_MS, open_page, request_item, status_of
from tests.browser.web_server import WebServer, district_id, request_via_api, table_away

pytestmark = pytest.mark.browser

WITHIN = WITHIN_MS / 1000
#: The page's first wait before it tries again (live.js, RETRY_FIRST_MS), in seconds.
RETRY_FIRST = 0.5
#: The server's own words for a revoked token (models/tokens.py, REVOKED_TOKEN).
REVOKED = "This token was revoked. Ask the hosting team for a new token and sign in again."
LIVE_ON = "Live updates: on"
LIVE_RECONNECTING = "Live updates: reconnecting…"


async def test_a_subscription_the_server_ends_after_a_failed_catch_up_is_subscribed_again(
    browser: Browser, web: WebServer
) -> None:
    """The database fails while the server replays what the page missed after a drop: the server
    completes the subscription and keeps the socket. The page must not sit on a dead operation
    saying "caught up": it says live updates are interrupted, subscribes again from the same
    cursor, and then shows the missed move and the live ones, without reloading the list."""
    lakeside = await district_id(web, TC, "Lakeside Public Schools")
    async with open_page(browser, web) as page:
        proxy, list_reads = await follow_lakeside(page, web)
        seen = await request_via_api(web, TC, lakeside, kind="DATABASE_REFRESH", environment="STAGING")
        await expect(status_of(request_item(page, seen))).to_have_text("To Be Scheduled")
        operation = proxy.subscribes[0]["id"]
        cursor = proxy.events_of(operation)[-1]["cursor"]

        await proxy.drop()
        await expect(page.get_by_role("status")).to_have_text(INTERRUPTED)
        moved = await web.gql(STAFF, SET_STATUS, id=seen, status="PENDING_INPUT", message="Which sandbox?")
        assert moved["setUpdateRequestStatus"]["errors"] == []

        # The page's resubscribe reaches a server that cannot read the requests it owes (for as
        # short a time as the test can make it: the dev server's scheduler reads them too).
        proxy.hold_subscribes, proxy.down = True, False
        async with asyncio.timeout(WITHIN):
            await proxy.holding.wait()
        async with table_away(web, "update_request"):
            proxy.release()
            proxy.hold_after_complete = True  # the page's next subscribe waits for the database
            async with asyncio.timeout(WITHIN):
                await proxy.completed.wait()
        assert proxy.sent_on(-1)[-1] == {"id": operation, "type": "complete"}
        assert not proxy.server_closes  # the socket stays open: only the operation ended
        await expect(page.get_by_role("status")).to_have_text(INTERRUPTED)
        await expect(page.get_by_text(LIVE_RECONNECTING)).to_be_visible()
        # It subscribes again (held here for now) from the same cursor, on the same socket.
        async with asyncio.timeout(WITHIN):
            await proxy.until_subscribes(3)
        assert [s["payload"]["variables"]["after"] for s in proxy.subscribes] == [None, cursor, cursor]
        assert all(s["id"] == operation for s in proxy.subscribes)
        assert len(proxy.sockets) == 2

        proxy.release()
        await expect(status_of(request_item(page, seen))).to_have_text("Pending Input")
        await expect(request_item(page, seen)).to_contain_text("Which sandbox?")
        await expect(page.get_by_role("status")).to_have_text(CAUGHT_UP)
        await expect(page.get_by_text(LIVE_ON)).to_be_visible()
        assert len(list_reads) == 1, list_reads
        assert await page.evaluate(MARKER) == "the same page"
        # ... and it follows live moves again.
        await back_to_queue_then_cancelled(web, page, seen)


async def test_a_1013_close_resumes_from_the_last_cursor_with_exactly_the_missed_moves(
    browser: Browser, web: WebServer
) -> None:
    """The server closes the page's socket with 1013 and "Resubscribe with `after`: last cursor"
    (it fell too far behind; the close is the server's code and words, sent here by the proxy).
    The page reconnects, resubscribes after its last event, and receives the moves it missed, each
    once, no more, without reloading the list."""
    lakeside = await district_id(web, TC, "Lakeside Public Schools")
    async with open_page(browser, web) as page:
        proxy, list_reads = await follow_lakeside(page, web)
        seen = await request_via_api(web, TC, lakeside, kind="DATABASE_REFRESH", environment="STAGING")
        await expect(status_of(request_item(page, seen))).to_have_text("To Be Scheduled")
        operation = proxy.subscribes[0]["id"]
        cursor = proxy.events_of(operation)[-1]["cursor"]

        await proxy.drop(CLOSE_TOO_SLOW, REASON_TOO_SLOW, hold=True)
        await expect(page.get_by_role("status")).to_have_text(INTERRUPTED)
        # While the page is away (what it sends on its next connection is held): two moves of a
        # request it shows, and a new request.
        moved = await web.gql(STAFF, SET_STATUS, id=seen, status="PENDING_INPUT", message="Which one?")
        assert moved["setUpdateRequestStatus"]["errors"] == []
        later = await web.gql(STAFF, SET_STATUS, id=seen, status="DEFERRED", message="Next month.")
        assert later["setUpdateRequestStatus"]["errors"] == []
        missed = await request_via_api(web, TC, lakeside, kind="DATABASE_REFRESH", environment="SANDBOX")

        proxy.release()
        await expect(status_of(request_item(page, seen))).to_have_text("Deferred")
        await expect(status_of(request_item(page, missed))).to_have_text("To Be Scheduled")
        await expect(page.get_by_role("status")).to_have_text(CAUGHT_UP)
        await expect(page.get_by_text(LIVE_ON)).to_be_visible()
        assert [s["payload"]["variables"]["after"] for s in proxy.subscribes] == [None, cursor]
        replayed = [
            (e["type"], e["updateRequest"]["id"], e["updateRequest"]["status"])
            for e in proxy.events_of(operation)  # on the page's new connection
        ]
        assert replayed == [
            ("STATUS_CHANGED", seen, "PENDING_INPUT"),
            ("STATUS_CHANGED", seen, "DEFERRED"),
            ("CREATED", missed, "TO_BE_SCHEDULED"),
        ]
        assert len(list_reads) == 1, list_reads
        assert await page.evaluate(MARKER) == "the same page"

        assert (await web.gql(TC, CANCEL, id=missed))["cancelUpdateRequest"]["errors"] == []
        await expect(request_item(page, missed)).to_have_count(0)
        await back_to_queue_then_cancelled(web, page, seen)


async def test_a_1013_saying_not_all_was_resent_reloads_the_list(browser: Browser, web: WebServer) -> None:
    """After an outage of its stream the server resends only the newest changes; when more changed,
    it closes with 1013 and "More changed than was resent: reload, ..." (the server's code and
    words, sent here by the proxy). Resuming from the last cursor would not bring the rest back, so
    the page reloads the list once it is subscribed again, and says so."""
    lakeside = await district_id(web, TC, "Lakeside Public Schools")
    async with open_page(browser, web) as page:
        proxy, list_reads = await follow_lakeside(page, web)
        seen = await request_via_api(web, TC, lakeside, kind="DATABASE_REFRESH", environment="STAGING")
        await expect(status_of(request_item(page, seen))).to_have_text("To Be Scheduled")

        await proxy.drop(CLOSE_TOO_SLOW, REASON_INCOMPLETE, hold=True)
        await expect(page.get_by_role("status")).to_have_text(INTERRUPTED)
        moved = await web.gql(STAFF, SET_STATUS, id=seen, status="PENDING_INPUT", message="Which one?")
        assert moved["setUpdateRequestStatus"]["errors"] == []
        proxy.release()

        await expect(page.get_by_role("status")).to_have_text(RELOADED)
        await expect(status_of(request_item(page, seen))).to_have_text("Pending Input")
        await expect(page.get_by_text(LIVE_ON)).to_be_visible()
        assert len(list_reads) == 2, list_reads
        assert await page.evaluate(MARKER) == "the same page"

        # A later ordinary drop resumes again without a reload: the reload was taken once.
        await proxy.drop(CLOSE_TOO_SLOW, REASON_TOO_SLOW, hold=True)
        await expect(page.get_by_role("status")).to_have_text(INTERRUPTED)
        proxy.release()
        await expect(page.get_by_role("status")).to_have_text(CAUGHT_UP)
        assert len(list_reads) == 2, list_reads

        await back_to_queue_then_cancelled(web, page, seen)


async def test_a_revoked_token_stops_live_updates_says_why_and_does_not_retry(
    browser: Browser, web: WebServer
) -> None:
    """An operator revokes the token the page signed in with: the server closes the socket with
    4403 and its reason. The page stops (no new connection), signs out and shows that reason."""
    token = (await web.cli("tokens", "issue", TC)).strip()
    async with open_page(browser, web) as page:
        proxy = SocketProxy()
        await page.route_web_socket(f"{web.url.replace('http', 'ws')}/graphql", proxy.route)
        await page.get_by_role("textbox", name="API token").fill(token)
        await page.get_by_role("button", name="Sign in", exact=True).click()
        await expect(page.get_by_text(LIVE_ON)).to_be_visible()

        await web.cli("tokens", "revoke", token)
        async with asyncio.timeout(WITHIN):
            await proxy.closed.wait()
        assert proxy.server_closes == [(4403, REVOKED)]
        await expect(page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
        await expect(page.locator("#token-error")).to_have_text(REVOKED)
        await expect(page.get_by_role("textbox", name="API token")).to_have_attribute("aria-invalid", "true")
        await expect(page.locator('[role="alert"]')).to_have_text("")  # no "Live updates stopped" on top
        # No retry: nothing to await for what must not happen, so give a retry several of its
        # first waits to show up.
        await page.wait_for_timeout(4 * RETRY_FIRST * 1000)
        assert len(proxy.sockets) == 1
        await expect(page.locator("#token-error")).to_have_text(REVOKED)
