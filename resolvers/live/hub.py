"""The live hub of one API process: its event bus, and what its subscribers share (one token
re-check per token, one row read per event, one watch over the open sockets' tokens) so one event
to N subscribers costs one lookup, not N.
The app creates one per bus and hands it to every GraphQL context; nothing here is global."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from infra.bus import EventBus
from models.events import UpdateRequestChanged
from models.tables import UpdateRequest
from resolvers.live.sockets import SocketWatch

T = TypeVar("T")
K = TypeVar("K")

#: Distinct tokens whose re-check a hub remembers.
SIGN_IN_CACHE_LIMIT = 4096
#: Recent events whose request row a hub remembers, and for how long (seconds).
EVENT_ROWS_LIMIT = 256
EVENT_ROW_SECONDS = 1.0


class SharedLookups(Generic[K, T]):
    """At most one lookup per key in flight or younger than `max_age` seconds; the others await it.

    `shield`: one waiter going away never cancels the lookup the others wait for."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._entries: OrderedDict[K, tuple[float, asyncio.Future[T]]] = OrderedDict()

    async def get(
        self, key: K, lookup: Callable[[], Awaitable[T]], max_age: float, *, force: bool = False
    ) -> tuple[float, T]:
        """(when the lookup started, its result)."""
        now = time.monotonic()
        entry = self._entries.get(key)
        if force or entry is None or now - entry[0] >= max_age:
            entry = (now, asyncio.ensure_future(lookup()))
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.limit:
                self._entries.popitem(last=False)
        started, future = entry
        return started, await asyncio.shield(future)


class LiveHub:
    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        #: Re-checks of a connection's token, keyed by its Authorization value.
        self.sign_ins: SharedLookups[str, object] = SharedLookups(SIGN_IN_CACHE_LIMIT)
        #: The request row read after an event, keyed by the event (one object fanned out to all).
        self.event_rows: SharedLookups[UpdateRequestChanged, UpdateRequest | None] = SharedLookups(
            EVENT_ROWS_LIMIT
        )
        #: Signed-in sockets, closed within a second of their token or account being switched off.
        self.sockets = SocketWatch()

    async def close(self) -> None:
        await self.sockets.close()

    async def row_for(self, event: UpdateRequestChanged) -> UpdateRequest | None:
        """The request as it is after `event` (deleted and cancelled rows included)."""
        _, row = await self.event_rows.get(
            event, lambda: UpdateRequest.get_or_none(id=event.update_request_id), EVENT_ROW_SECONDS
        )
        return row
