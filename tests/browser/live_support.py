"""What the live browser tests share: the page's words, shortcuts through the API, and a pass-through
for the page's WebSocket that can drop the connection, refuse new ones as a restarting server
would, hold what the page sends, and records what each side said."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from playwright.async_api import Page, Request, WebSocketRoute, expect

from infra.bus.records import public_cursor
from tests.browser.web_page import STAFF, TC, request_item, status_of
from tests.browser.web_server import WebServer

#: "Service Restart": what a server going down for a deploy sends; graphql-ws retries after it.
CLOSE_SERVICE_RESTART = 1012
#: The page's words (updatedesk/web/static/js/follow.js).
CAUGHT_UP = "Live updates reconnected — caught up on the changes made meanwhile."
RELOADED = "Live updates reconnected — reloaded: the list shows the present."
INTERRUPTED = "Live updates interrupted. Reconnecting…"
#: A cursor of the first moment of the stream: no record with it is kept.
TOO_OLD = public_cursor("1-0")
SET_STATUS = """
mutation($id: ID!, $status: UpdateStatus!, $message: String) {
  setUpdateRequestStatus(id: $id, status: $status, message: $message) { errors { code message } }
}"""
CANCEL = "mutation($id: ID!) { cancelUpdateRequest(id: $id) { errors { code } } }"


async def back_to_queue_then_cancelled(web: WebServer, page: Page, request_id: str) -> None:
    """Staff put the request back in the queue, its contact cancels it: the page follows both
    moves live, and later tests may ask for this refresh again."""
    back = await web.gql(STAFF, SET_STATUS, id=request_id, status="TO_BE_SCHEDULED", message="Confirmed.")
    assert back["setUpdateRequestStatus"]["errors"] == []
    await expect(status_of(request_item(page, request_id))).to_have_text("To Be Scheduled")
    assert (await web.gql(TC, CANCEL, id=request_id))["cancelUpdateRequest"]["errors"] == []
    await expect(request_item(page, request_id)).to_have_count(0)


#: Set on the page's window: still there afterwards means the page was not loaded again.
MARKER = "window.updatedeskTestMarker"


@dataclass
class SocketProxy:
    """Passes the page's WebSockets through to the server, keeping a handle to drop them. While
    `down`, new ones are refused as a restarting server would. Records the page's `subscribe`
    messages, and everything the server sends; with `rewrite_after` set, a resubscribe's cursor
    is replaced by it (as if the server had since dropped the events after the page's cursor)."""

    sockets: list[WebSocketRoute] = field(default_factory=list)
    subscribes: list[dict[str, Any]] = field(default_factory=list)
    down: bool = False
    rewrite_after: str | None = None
    #: While set, the page's messages from its first `subscribe` on wait in `held`.
    hold_subscribes: bool = False
    #: While set, the page's messages wait in `held` from the server's next `complete` on (what
    #: the page sends after the server ended one of its subscriptions).
    hold_after_complete: bool = False
    #: While set, the page's messages wait in `held` from the server's next close on (the next
    #: connection's, from its `connection_init`).
    hold_after_close: bool = False
    #: While set, the page's messages wait in `held` from the server's next `error` on (what the
    #: page sends after the server refused one of its subscribes).
    hold_after_error: bool = False
    #: While set, a new connection's `connection_init` never reaches the server, and the page is
    #: told `connection_ack` (as if the server had lost it): its `subscribe` then comes unannounced.
    lose_init: bool = False
    held: list[str] = field(default_factory=list)
    holding: asyncio.Event = field(default_factory=asyncio.Event)
    servers: list[WebSocketRoute] = field(default_factory=list)
    #: What the server sent, parsed, in order, each with the index of its connection in `sockets`;
    #: and how it closed them: (code, reason).
    from_server: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    server_closes: list[tuple[int | None, str | None]] = field(default_factory=list)
    #: Set when the server sends a `complete` or an `error`, or closes a socket.
    completed: asyncio.Event = field(default_factory=asyncio.Event)
    errored: asyncio.Event = field(default_factory=asyncio.Event)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    #: The connections (indexes of `sockets`) `drop` ended: their server side closing is no news.
    dropped: set[int] = field(default_factory=set)
    _subscribed: asyncio.Event = field(default_factory=asyncio.Event)

    async def route(self, socket: WebSocketRoute) -> None:
        if self.down:
            await socket.close(code=CLOSE_SERVICE_RESTART, reason="test: server down")
            return
        self.sockets.append(socket)
        server = socket.connect_to_server()
        self.servers.append(server)

        def forward(message: str | bytes) -> None:
            text = message.decode() if isinstance(message, bytes) else message
            parsed = json.loads(text)
            if parsed.get("type") == "connection_init" and self.lose_init:
                socket.send(json.dumps({"type": "connection_ack"}))
                return
            if parsed.get("type") == "subscribe":
                variables = parsed["payload"].get("variables") or {}
                if self.rewrite_after and variables.get("after"):
                    variables["after"] = self.rewrite_after
                    text = json.dumps(parsed)
                self.subscribes.append(parsed)
                self._subscribed.set()
                if self.hold_subscribes:
                    self.holding.set()
            if self.holding.is_set():
                self.held.append(text)
                return
            server.send(text)

        def back(message: str | bytes) -> None:
            text = message.decode() if isinstance(message, bytes) else message
            parsed = json.loads(text)
            index = self.sockets.index(socket)
            self.from_server.append((index, parsed))
            if index in self.dropped:
                # Still on its way when `drop` closed the page's side: a frame after the close
                # never reaches a real page either, and sending it raises in the page ("already
                # in CLOSING or CLOSED state"), which the tests count as a script failure.
                return
            socket.send(text)
            if parsed.get("type") == "complete":
                if self.hold_after_complete:
                    self.holding.set()
                self.completed.set()
            if parsed.get("type") == "error":
                if self.hold_after_error:
                    self.holding.set()
                self.errored.set()

        async def server_closed(code: int | None, reason: str | None) -> None:
            if self.sockets.index(socket) in self.dropped:
                return  # closed by `drop`
            self.server_closes.append((code, reason))
            if self.hold_after_close:
                self.holding.set()
            self.closed.set()
            await socket.close(code=code, reason=reason)

        socket.on_message(forward)
        server.on_message(back)
        server.on_close(server_closed)

    def release(self) -> None:
        """Send what was held, in order, and pass everything through from now on."""
        self.hold_subscribes = self.hold_after_complete = self.hold_after_close = self.hold_after_error = (
            False
        )
        self.holding.clear()
        for text in self.held:
            self.servers[-1].send(text)
        self.held.clear()

    async def drop(
        self,
        code: int = CLOSE_SERVICE_RESTART,
        reason: str = "test: connection dropped",
        *,
        hold: bool = False,
    ) -> None:
        """Close the page's connection with `code` and `reason`, on both sides (the server lets its
        subscriptions go). New connections are refused until `down` is cleared; with `hold`, they
        are let in but what the page sends on them waits in `held` until `release`."""
        if hold:
            self.holding.set()
        else:
            self.down = True
        self.dropped.add(len(self.sockets) - 1)
        await self.sockets[-1].close(code=code, reason=reason)
        await self.servers[-1].close(code=code, reason=reason)

    async def until_subscribes(self, count: int) -> None:
        """Wait until the page has sent `count` subscribes in all."""
        while len(self.subscribes) < count:
            self._subscribed.clear()
            await self._subscribed.wait()

    def sent_on(self, connection: int) -> list[dict[str, Any]]:
        """What the server sent on the page's `connection` (an index of `sockets`: -1, the last)."""
        index = connection % len(self.sockets)
        return [message for on, message in self.from_server if on == index]

    def events_of(self, operation_id: str, connection: int = -1) -> list[dict[str, Any]]:
        """The events the server sent for `operation_id` on the page's `connection`."""
        return [
            m["payload"]["data"]["updateRequestEvents"]
            for m in self.sent_on(connection)
            if m.get("id") == operation_id and m.get("type") == "next"
        ]


async def follow_lakeside(
    page: Page, web: WebServer, proxy: SocketProxy | None = None, *, prepare: str | None = None
) -> tuple[SocketProxy, list[str]]:
    """Sign the technical contact in through the proxy; the list's reads are recorded. `prepare`
    is evaluated in the page once its WebSockets go through the proxy, before it signs in."""
    proxy = proxy or SocketProxy()
    await page.route_web_socket(f"{web.url.replace('http', 'ws')}/graphql", proxy.route)
    if prepare is not None:
        await page.evaluate(prepare)
    list_reads: list[str] = []

    def on_request(request: Request) -> None:
        if request.method == "POST" and "query DistrictRequests" in (request.post_data or ""):
            list_reads.append(request.url)

    page.on("request", on_request)
    await page.get_by_role("button", name=f"Sign in as {TC}").click()
    await expect(page.get_by_text("Live updates: on")).to_be_visible()
    await expect(page.locator("li.request").first).to_be_visible()  # loaded once it listens
    await page.evaluate(f"{MARKER} = 'the same page'")
    return proxy, list_reads
