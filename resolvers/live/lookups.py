"""Lookups shared by every subscriber of a process: one token re-check per token, one row read
per event, however many subscribers wait for it."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
K = TypeVar("K")


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
