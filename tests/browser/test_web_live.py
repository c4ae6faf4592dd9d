"""The page's WebSocket: after a dropped connection it reconnects, subscribes again, reloads the
list, says so, and keeps following the district."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, WebSocketRoute, expect

from tests.browser.web_page import TC, VIEWER, open_page, request_item, status_of
from tests.browser.web_server import WebServer, district_id, request_via_api

pytestmark = pytest.mark.browser

#: "Service Restart": what a server going down for a deploy sends; graphql-ws retries after it.
CLOSE_SERVICE_RESTART = 1012


async def test_reconnects_after_a_dropped_connection_reloads_and_says_so(
    browser: Browser, web: WebServer
) -> None:
    lakeside = await district_id(web, TC, "Lakeside Public Schools")
    async with open_page(browser, web) as page:
        # Pass the page's WebSockets through to the server, keeping a handle to drop them; while
        # `down` is set, new ones are refused as a restarting server would.
        sockets: list[WebSocketRoute] = []
        down = False

        async def proxy(socket: WebSocketRoute) -> None:
            if down:
                await socket.close(code=CLOSE_SERVICE_RESTART, reason="test: server down")
                return
            sockets.append(socket)
            socket.connect_to_server()

        await page.route_web_socket(f"{web.url.replace('http', 'ws')}/graphql", proxy)
        await page.get_by_role("button", name=f"Sign in as {VIEWER}").click()
        await expect(page.get_by_text("Live updates: on")).to_be_visible()
        # A read-only viewer is offered no request.
        await expect(page.get_by_role("button", name="Request update")).to_have_count(0)
        assert len(sockets) == 1

        down = True
        await sockets[0].close(code=CLOSE_SERVICE_RESTART, reason="test: connection dropped")
        await expect(page.get_by_role("status")).to_have_text("Live updates interrupted. Reconnecting…")
        await expect(page.get_by_text("Live updates: reconnecting…")).to_be_visible()
        # Made while the page had no connection: no event reaches it, only the reload shows it.
        missed = await request_via_api(web, TC, lakeside, kind="DATABASE_REFRESH", environment="STAGING")
        await expect(request_item(page, missed)).to_have_count(0)

        down = False
        await expect(page.get_by_role("status")).to_have_text(
            "Live updates reconnected. The list was reloaded."
        )
        await expect(page.get_by_text("Live updates: on")).to_be_visible()
        await expect(status_of(request_item(page, missed))).to_have_text("To Be Scheduled")
        assert len(sockets) == 2

        # The new subscription follows the district.
        cancel = "mutation($id: ID!) { cancelUpdateRequest(id: $id) { errors { code } } }"
        assert (await web.gql(TC, cancel, id=missed))["cancelUpdateRequest"]["errors"] == []
        await expect(request_item(page, missed)).to_have_count(0)
