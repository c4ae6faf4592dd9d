"""Slow and vanishing HTTP clients (slowloris): time limits on a request's headers and on its body,
and a quiet line for a client that went away mid-body.

- Headers: uvicorn times out idle keep-alive connections, but not a connection that opens and
  then sends its headers a byte at a time (or never). `http_protocol(timeout)` is uvicorn's own
  HTTP protocol with a deadline from the connection (or the first byte of a next request) to the
  end of the headers; past it the connection is closed.
- Body: `BodyDeadlineMiddleware` gives the whole body one deadline from its first read; past it
  the answer is 408 and the connection closes.
- A client that disconnects before its body is complete is logged at info, without a traceback
  (it is the client's doing, and at error level a flood of them would bury real faults).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infra.settings import DEFAULT_HTTP_BODY_TIMEOUT_SECONDS

logger = logging.getLogger("updatedesk.http")


class _HeaderDeadline:
    """Mixed into a uvicorn HTTP protocol: close the connection when a request's headers are not
    complete `header_timeout` seconds after the connection opened or the request began."""

    header_timeout: float
    _header_timer: asyncio.TimerHandle | None = None

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            loop = asyncio.get_running_loop()
            self._header_timer = loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        transport: asyncio.BaseTransport | None = getattr(self, "transport", None)
        if transport is not None and not transport.is_closing():
            # debug, not info: a slowloris attack is thousands of these.
            logger.debug("closed a connection whose request headers took over %s s", self.header_timeout)
            transport.close()


def http_protocol(header_timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's "auto" HTTP protocol (httptools when installed, else h11) with a header deadline;
    for `uvicorn.Config(http=...)`."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # httptools is optional in uvicorn
        return h11_protocol(header_timeout)

    class HeaderDeadlineHttpTools(_HeaderDeadline, HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_header_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_timer()
            super().connection_lost(exc)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm_header_timer()  # the next request on a kept-alive connection

        def on_headers_complete(self) -> None:
            self._disarm_header_timer()  # before a WebSocket upgrade hands the transport on
            super().on_headers_complete()

    HeaderDeadlineHttpTools.header_timeout = header_timeout
    return HeaderDeadlineHttpTools


def h11_protocol(header_timeout: float) -> type[asyncio.Protocol]:
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderDeadlineH11(_HeaderDeadline, H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_header_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_timer()
            super().connection_lost(exc)

        def handle_events(self) -> None:
            super().handle_events()
            if self.conn.their_state is h11.IDLE:
                self._arm_header_timer()  # part of a request's headers, or none yet
            else:
                self._disarm_header_timer()

    HeaderDeadlineH11.header_timeout = header_timeout
    return HeaderDeadlineH11


BODY_TIMEOUT_MESSAGE = "Request body not received in time."


class BodyDeadlineMiddleware:
    """One deadline for a request's whole body, from its first read: past it, 408 (and the
    connection closes). A client gone mid-body is an info line, not an error with a traceback."""

    def __init__(self, app: ASGIApp, timeout: float = DEFAULT_HTTP_BODY_TIMEOUT_SECONDS) -> None:
        self.app = app
        self.timeout = timeout

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Anything else is handed on with no frame of ours on its await chain (a WebSocket's
        # lasts as long as the socket).
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        return self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        state: dict[str, Any] = {"deadline": None, "complete": False}

        async def timed_receive() -> Message:
            if state["complete"]:
                return await receive()  # after the body: waiting for a disconnect is not timed
            loop = asyncio.get_running_loop()
            if state["deadline"] is None:
                state["deadline"] = loop.time() + self.timeout
            try:
                async with asyncio.timeout_at(state["deadline"]):
                    message = await receive()
            except TimeoutError:
                logger.info("request body not received within %s s: answered 408", self.timeout)
                raise HTTPException(408, BODY_TIMEOUT_MESSAGE, headers={"Connection": "close"}) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                state["complete"] = True
            return message

        try:
            await self.app(scope, timed_receive, send)
        except ClientDisconnect:
            logger.info("client disconnected before sending the whole request body: %s", scope.get("path"))
