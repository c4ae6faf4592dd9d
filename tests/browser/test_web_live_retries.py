"""When the page subscribes again, and when it gives up.

- A subscribe the server refuses for now (an `error` with code UNAVAILABLE: the token could not be
  checked because the database did not answer) is tried again from the same cursor, after the
  same growing wait as after a `complete`; other refusals (a bad cursor) stop, with the reason.
- The waits grow (0.5 s, 1 s, 2 s, ... at most 10 s) while the server keeps ending the
  subscription, and start over once it delivers again (timed on the page's own clock, faked).
- 4401 (a subscribe the server got before `connection_init`): the page shows the reason and does
  not retry.
- A reconnect whose `connection_init` the server cannot check (the database did not answer) is
  closed with 1013, not 4403: the page stays signed in, reconnects and resumes from its cursor.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from resolvers.live.access import REASON_UNCHECKED
from tests.browser.live_support import (
    CANCEL,
    CAUGHT_UP,
    INTERRUPTED,
    MARKER,
    SET_STATUS,
    SocketProxy,
    back_to_queue_then_cancelled,
    follow_lakeside,
)
from tests.browser.web_page import STAFF, TC, WITHIN_MS, open_page, request_item, status_of
from tests.browser.web_server import WebServer, dev_server, district_id, request_via_api, table_away
from tests.support import selected_backends
from updatedesk.ws import REASON_SIGN_IN_UNAVAILABLE, REASON_UNAUTHORIZED

pytestmark = pytest.mark.browser

WITHIN = WITHIN_MS / 1000
#: The page's waits before it subscribes again (live.js: RETRY_FIRST_MS doubling up to
#: RETRY_LONGEST_MS), in milliseconds.
WAITS_MS = [500, 1_000, 2_000, 4_000, 8_000, 10_000, 10_000]
#: graphql-ws's wait before it connects again after a drop (the first of live.js's waits), in ms.
RECONNECT_MS = 500
LIVE_ON = "Live updates: on"
LIVE_RECONNECTING = "Live updates: reconnecting…"
BAD_CURSOR = "`after` is not a cursor of this API: pass the `cursor` of an event you received."
#: Records, on the page's clock, when the page sent each `subscribe` and got each `complete`
#: (evaluated once the page's WebSockets go through the proxy, before it signs in).
RECORD_TIMES = """() => {
  const times = (window.liveTimes = { subscribes: [], completes: [], waiting: [] });
  // A promise of the times of `kind` once there are `count` of them.
  times.until = (kind, count) => new Promise((resolve) => {
    times.waiting.push({ kind, count, resolve });
    times.note();
  });
  times.note = (kind, at) => {
    if (kind) times[kind].push(at);
    const due = (w) => times[w.kind].length >= w.count;
    for (const w of times.waiting.filter(due)) w.resolve([...times[w.kind]]);
    times.waiting = times.waiting.filter((w) => !due(w));
  };
  const Routed = window.WebSocket;
  window.WebSocket = class extends Routed {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        if (JSON.parse(event.data).type === "complete") times.note("completes", Date.now());
      });
    }
    send(data) {
      if (JSON.parse(data).type === "subscribe") times.note("subscribes", Date.now());
      super.send(data);
    }
  };
}"""


@pytest_asyncio.fixture(scope="module", loop_scope="session", params=selected_backends())
async def web_checking(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[WebServer]:
    """`updatedesk dev` that checks a socket's token again at every subscribe (not at most every
    second): a subscribe made while the tokens cannot be read is refused for now, every time."""
    settings = {"UPDATEDESK_WS_AUTH_RECHECK_SECONDS": "0"}
    async with dev_server(tmp_path_factory.mktemp("web-checking"), request.param, settings) as server:
        yield server


async def test_a_subscribe_refused_for_now_is_tried_again_from_the_same_cursor(
    browser: Browser, web_checking: WebServer
) -> None:
    """The page resubscribes after a drop while the server cannot read its tokens: the server
    answers UNAVAILABLE ("try again in a moment"). The page must not stop: it says live updates
    are interrupted, subscribes again from the same cursor, catches up on the move it missed and
    follows the later ones."""
    web = web_checking
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

        # The page connects again (its token checked then); its subscribe reaches the server
        # while the tokens cannot be read, and what it sends next waits here.
        proxy.hold_subscribes, proxy.down = True, False
        async with asyncio.timeout(WITHIN):
            await proxy.holding.wait()
        async with table_away(web, "api_token"):
            proxy.release()
            proxy.hold_after_error = True
            async with asyncio.timeout(WITHIN):
                await proxy.errored.wait()
        refusals = [m for m in proxy.sent_on(-1) if m.get("type") == "error"]
        assert [(m["id"], m["payload"][0]["extensions"]["code"]) for m in refusals] == [
            (operation, "UNAVAILABLE")
        ]
        assert refusals[0]["payload"][0]["message"] == REASON_UNCHECKED
        assert not proxy.server_closes  # refused for now: the socket stays

        await expect(page.get_by_role("status")).to_have_text(INTERRUPTED)
        await expect(page.get_by_text(LIVE_RECONNECTING)).to_be_visible()
        await expect(page.locator('[role="alert"]')).to_have_text("")  # not "Live updates stopped"
        async with asyncio.timeout(WITHIN):
            await proxy.until_subscribes(3)
        assert [s["payload"]["variables"]["after"] for s in proxy.subscribes] == [None, cursor, cursor]

        proxy.release()
        await expect(status_of(request_item(page, seen))).to_have_text("Pending Input")
        await expect(page.get_by_role("status")).to_have_text(CAUGHT_UP)
        await expect(page.get_by_text(LIVE_ON)).to_be_visible()
        assert len(list_reads) == 1, list_reads
        assert await page.evaluate(MARKER) == "the same page"
        await back_to_queue_then_cancelled(web, page, seen)


async def test_a_subscribe_refused_for_good_stops_and_says_why(browser: Browser, web: WebServer) -> None:
    """A refusal that waiting does not mend (here a cursor the API never gave) still stops live
    updates, with the server's reason, and is not tried again."""
    lakeside = await district_id(web, TC, "Lakeside Public Schools")
    async with open_page(browser, web) as page:
        proxy, _ = await follow_lakeside(page, web)
        seen = await request_via_api(web, TC, lakeside, kind="DATABASE_REFRESH", environment="STAGING")
        await expect(status_of(request_item(page, seen))).to_have_text("To Be Scheduled")  # a cursor
        proxy.rewrite_after = "not-a-cursor"
        await proxy.drop(hold=True)
        await expect(page.get_by_role("status")).to_have_text(INTERRUPTED)
        proxy.release()  # ... its resubscribe, with the cursor replaced

        await expect(page.locator('[role="alert"]')).to_have_text(f"Live updates stopped: {BAD_CURSOR}")
        refusals = [m for m in proxy.sent_on(-1) if m.get("type") == "error"]
        assert [m["payload"][0]["extensions"]["code"] for m in refusals] == ["VALIDATION"]
        # No retry: nothing to await for what must not happen, so give a retry several of its
        # first waits to show up.
        await page.wait_for_timeout(4 * WAITS_MS[0])
        assert len(proxy.subscribes) == 2
        assert (await web.gql(TC, CANCEL, id=seen))["cancelUpdateRequest"]["errors"] == []


async def page_times(page: Page, kind: str, count: int) -> list[int]:
    """The page's clock times of its `subscribe`s or `complete`s (`kind`), once it has `count`."""
    async with asyncio.timeout(WITHIN):  # e.g. the page waits longer than its clock moved on
        times: list[int] = await page.evaluate(
            "([kind, count]) => window.liveTimes.until(kind, count)", [kind, count]
        )
    return times


async def waits_while_ended(
    page: Page, web: WebServer, proxy: SocketProxy, request_id: str, status: str, advance_ms: list[int]
) -> list[int]:
    """Drop the page while `request_id` moves to `status` and the server cannot read requests:
    every resubscribe's catch-up fails and the server ends it. The page's clock is moved on by
    `advance_ms` in turn, one per subscribe after the reconnect; the waits the page made between
    each `complete` and its next subscribe."""
    subscribes = len(await page_times(page, "subscribes", 0))
    completes = len(await page_times(page, "completes", 0))
    await proxy.drop(hold=True)
    proxy.release()  # the page may connect again: it waits for its clock first
    await expect(page.get_by_role("status")).to_have_text(INTERRUPTED)
    moved = await web.gql(STAFF, SET_STATUS, id=request_id, status=status, message="Moved.")
    assert moved["setUpdateRequestStatus"]["errors"] == []
    async with table_away(web, "update_request"):
        await page.clock.run_for(RECONNECT_MS)
        for done, advance in enumerate(advance_ms):
            await page_times(page, "completes", completes + done + 1)
            await page.clock.run_for(advance)
        await page_times(page, "completes", completes + len(advance_ms) + 1)
    sent = (await page_times(page, "subscribes", subscribes + len(advance_ms) + 1))[subscribes + 1 :]
    ended = (await page_times(page, "completes", 0))[completes:]
    return [at - end for at, end in zip(sent, ended, strict=False)]


async def test_the_wait_before_subscribing_again_grows_and_starts_over_after_a_delivery(
    browser: Browser, web: WebServer
) -> None:
    """While the server keeps ending the subscription at once (its catch-up cannot read the
    requests), the page waits 0.5 s, 1 s, 2 s, ... at most 10 s before each new subscribe; once a
    subscription delivers again, the next wait is 0.5 s again. Timed on the page's clock, faked
    and moved on by exactly the wait expected: a longer wait would send no subscribe, a shorter
    one would show in the times."""
    lakeside = await district_id(web, TC, "Lakeside Public Schools")
    async with open_page(browser, web) as page:
        await page.clock.install()
        proxy, list_reads = await follow_lakeside(page, web, prepare=RECORD_TIMES)
        seen = await request_via_api(web, TC, lakeside, kind="DATABASE_REFRESH", environment="STAGING")
        await expect(status_of(request_item(page, seen))).to_have_text("To Be Scheduled")
        await page.clock.pause_at(await page.evaluate("Date.now() + 1"))

        assert await waits_while_ended(page, web, proxy, seen, "PENDING_INPUT", WAITS_MS) == WAITS_MS
        # The database answers again: the next subscribe catches up, delivering the missed move.
        await page.clock.run_for(WAITS_MS[-1])
        await expect(status_of(request_item(page, seen))).to_have_text("Pending Input")
        await expect(page.get_by_text(LIVE_ON)).to_be_visible()

        assert await waits_while_ended(page, web, proxy, seen, "DEFERRED", WAITS_MS[:2]) == WAITS_MS[:2]
        await page.clock.run_for(WAITS_MS[2])
        await expect(status_of(request_item(page, seen))).to_have_text("Deferred")
        await expect(page.get_by_role("status")).to_have_text(CAUGHT_UP)
        assert len(list_reads) == 1, list_reads
        await page.clock.resume()
        await back_to_queue_then_cancelled(web, page, seen)


async def test_a_4401_close_shows_the_reason_and_is_not_retried(browser: Browser, web: WebServer) -> None:
    """The server closes with 4401 when a subscribe comes before `connection_init` (here the
    proxy loses the page's `connection_init` on a new connection and acknowledges it itself). The
    page shows the server's reason and opens no new connection."""
    async with open_page(browser, web) as page:
        proxy, _ = await follow_lakeside(page, web)
        proxy.lose_init = True
        await proxy.drop()
        proxy.down = False
        async with asyncio.timeout(WITHIN):
            await proxy.closed.wait()
        assert proxy.server_closes == [(4401, REASON_UNAUTHORIZED)]
        await expect(page.locator("#token-error")).to_have_text(REASON_UNAUTHORIZED)
        await expect(page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
        await expect(page.locator('[role="alert"]')).to_have_text("")
        # No retry: nothing to await for what must not happen, so give a retry several of its
        # first waits to show up.
        await page.wait_for_timeout(4 * WAITS_MS[0])
        assert len(proxy.sockets) == 2


async def test_a_reconnect_the_server_cannot_check_stays_signed_in_and_resumes(
    browser: Browser, web: WebServer
) -> None:
    """The page reconnects after a drop just as the database stops answering: its token cannot be
    checked at `connection_init`. That is no verdict on the token: the server closes with 1013,
    the page stays signed in and says it is reconnecting, and once the database answers it
    connects again, catches up from its cursor on the move made meanwhile and is live again."""
    lakeside = await district_id(web, TC, "Lakeside Public Schools")
    async with open_page(browser, web) as page:
        proxy, list_reads = await follow_lakeside(page, web)
        seen = await request_via_api(web, TC, lakeside, kind="DATABASE_REFRESH", environment="STAGING")
        await expect(status_of(request_item(page, seen))).to_have_text("To Be Scheduled")
        cursor = proxy.events_of(proxy.subscribes[0]["id"])[-1]["cursor"]

        await proxy.drop()
        await expect(page.get_by_role("status")).to_have_text(INTERRUPTED)
        moved = await web.gql(STAFF, SET_STATUS, id=seen, status="PENDING_INPUT", message="Which sandbox?")
        assert moved["setUpdateRequestStatus"]["errors"] == []
        async with table_away(web, "api_token"):
            # The page connects again; after the server's close, what it sends waits here.
            proxy.hold_after_close, proxy.down = True, False
            async with asyncio.timeout(WITHIN):
                await proxy.closed.wait()
            await expect(page.get_by_text(LIVE_RECONNECTING)).to_be_visible()
            await expect(page.get_by_role("heading", name="Sign in", exact=True)).to_have_count(0)
            await expect(page.locator("#token-error")).to_have_count(0)
            assert proxy.server_closes == [(1013, REASON_SIGN_IN_UNAVAILABLE)]
        proxy.release()

        await expect(status_of(request_item(page, seen))).to_have_text("Pending Input")
        await expect(page.get_by_role("status")).to_have_text(CAUGHT_UP)
        await expect(page.get_by_text(LIVE_ON)).to_be_visible()
        assert proxy.subscribes[-1]["payload"]["variables"]["after"] == cursor
        assert proxy.server_closes == [(1013, REASON_SIGN_IN_UNAVAILABLE)]
        assert len(list_reads) == 1, list_reads
        assert await page.evaluate(MARKER) == "the same page"
        await back_to_queue_then_cancelled(web, page, seen)
