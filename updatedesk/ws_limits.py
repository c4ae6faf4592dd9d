"""WebSocket limits of one API process, on top of strawberry's graphql-transport-ws handler:

- open sockets per client address (checked as the socket opens) and per account (checked at
  `connection_init`, before the ack);
- subscribe messages per socket: a burst, then a steady rate (a token bucket).

Over a limit the socket is closed with 4429 (the protocol's "too many") and a reason saying which
limit and its size. The size of one message (1 MiB) is uvicorn's `ws_max_size`, closing with 1009
(see `updatedesk.live.WS_SERVER_OPTIONS`). The counts are per API process: a deployment of N
processes behind a load balancer allows up to N times as many sockets in all.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Hashable
from typing import Any

from strawberry.subscriptions.protocols.graphql_transport_ws.types import Message, SubscribeMessage

from infra.rate_limit import Bucket, take
from infra.settings import Settings
from updatedesk.ws import LiveTransportWSHandler

#: graphql-transport-ws close code for "too many" (there: initialisation requests).
TOO_MANY = 4429


class SocketCounts:
    """Open sockets by client address and by account, with their caps."""

    def __init__(self, max_per_address: int, max_per_account: int) -> None:
        self.max_per_address = max_per_address
        self.max_per_account = max_per_account
        self.by_address: Counter[Hashable] = Counter()
        self.by_account: Counter[Hashable] = Counter()

    @classmethod
    def from_settings(cls, settings: Settings) -> SocketCounts:
        return cls(settings.ws_max_sockets_per_address, settings.ws_max_sockets_per_account)

    @staticmethod
    def _open(counts: Counter[Hashable], key: Hashable, cap: int) -> bool:
        if counts[key] >= cap:
            return False
        counts[key] += 1
        return True

    @staticmethod
    def _close(counts: Counter[Hashable], key: Hashable) -> None:
        counts[key] -= 1
        if counts[key] <= 0:
            del counts[key]

    def open_address(self, address: Hashable) -> bool:
        return self._open(self.by_address, address, self.max_per_address)

    def close_address(self, address: Hashable) -> None:
        self._close(self.by_address, address)

    def open_account(self, account_id: Hashable) -> bool:
        return self._open(self.by_account, account_id, self.max_per_account)

    def close_account(self, account_id: Hashable) -> None:
        self._close(self.by_account, account_id)


class LimitedTransportWSHandler(LiveTransportWSHandler):
    """The socket's handler (`updatedesk.ws`: subscriptions served by the live hub) with the limits
    above; the view provides `socket_counts`, `settings` and `clock` (seconds, for the subscribe
    rate)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.counts: SocketCounts = self.view.socket_counts  # type: ignore[attr-defined]
        self.settings: Settings = self.view.settings  # type: ignore[attr-defined]
        self.clock: Callable[[], float] = getattr(self.view, "clock", time.monotonic)
        self.subscribes: Bucket | None = None
        self.account_id: int | None = None
        #: Set once this handler closed the socket: nothing more is read or answered.
        self.closed_by_limit = False

    async def handle(self) -> None:
        client = self.context.request.client
        address = client.host if client else None
        if not self.counts.open_address(address):
            await self._refuse(
                f"Too many open WebSockets from this address: at most {self.counts.max_per_address}."
            )
            return
        try:
            await super().handle()
        finally:
            self.counts.close_address(address)
            if self.account_id is not None:
                self.counts.close_account(self.account_id)

    async def handle_message(self, message: Message) -> None:
        if not self.closed_by_limit:
            await super().handle_message(message)

    async def send_message(self, message: Message) -> None:
        if message["type"] == "connection_ack" and self.context.auth is not None:
            account_id = self.context.auth.account.id
            if not self.counts.open_account(account_id):
                await self._refuse(
                    f"Too many open WebSockets for this account: at most {self.counts.max_per_account}."
                )
                return
            self.account_id = account_id
        await super().send_message(message)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        decision, self.subscribes = take(
            self.subscribes,
            self.clock(),
            1,
            self.settings.ws_subscribe_burst,
            self.settings.ws_subscribes_per_second,
        )
        if not decision.allowed:
            await self._refuse(
                f"Too many subscribe messages: at most {self.settings.ws_subscribe_burst} at once, "
                f"then {self.settings.ws_subscribes_per_second:g} per second."
            )
            return
        await super().handle_subscribe(message)

    async def _refuse(self, reason: str) -> None:
        self.closed_by_limit = True
        await self.websocket.close(code=TOO_MANY, reason=reason)
