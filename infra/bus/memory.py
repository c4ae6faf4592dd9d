"""The embedded default's event stream: in this process's memory, with the same record ids,
order per request and retention as the Redis stream, kept while the process runs."""

from __future__ import annotations

import asyncio
import bisect
import time
from collections import OrderedDict
from collections.abc import Collection

from infra.bus.ordering import Order, decide
from infra.bus.records import STREAM_START, EventRecord, id_key
from infra.bus.stream import RETAIN_ENTRIES, RETAIN_SECONDS
from models.events import UpdateRequestChanged

#: Requests whose last sequence the stream remembers (the oldest are forgotten first).
ORDER_MEMORY = 100_000


class MemoryStream:
    def __init__(self, retain_entries: int = RETAIN_ENTRIES, retain_seconds: float = RETAIN_SECONDS) -> None:
        self.retain_entries = retain_entries
        self.retain_seconds = retain_seconds
        self._records: list[EventRecord] = []
        self._keys: list[tuple[int, int]] = []
        self._last: tuple[int, int] = (0, 0)
        self._order: OrderedDict[int, int] = OrderedDict()
        #: Requests whose delete's REMOVED went in (one each), as long as their order is kept.
        self._deleted: OrderedDict[int, None] = OrderedDict()
        #: Set (and replaced) at every append: what waiting readers wait for.
        self._appended = asyncio.Event()

    async def append(self, event: UpdateRequestChanged, force: bool = False) -> tuple[Order, str | None]:
        """Add `event` in its request's order (see `infra.bus.ordering`)."""
        replaced = False
        # One REMOVED per delete (events outside any order, without a sequence, always go in).
        delete = event.is_delete and event.sequence is not None
        if delete and event.update_request_id in self._deleted:
            return Order.STALE, None
        if event.sequence is not None:
            order = decide(self._order.get(event.update_request_id), event.sequence, event.is_move)
            if order is Order.STALE:
                return order, None
            if order is Order.WAIT:
                if not force:
                    return order, None
                replaced = True
            if event.is_move or replaced:
                self._order[event.update_request_id] = event.sequence
                self._order.move_to_end(event.update_request_id)
                while len(self._order) > ORDER_MEMORY:
                    self._order.popitem(last=False)
        if delete:
            self._deleted[event.update_request_id] = None
            while len(self._deleted) > ORDER_MEMORY:
                self._deleted.popitem(last=False)
        millis = int(time.time() * 1000)
        key = (millis, 0) if millis > self._last[0] else (self._last[0], self._last[1] + 1)
        self._last = key
        record = EventRecord(f"{key[0]}-{key[1]}", event, replaced)
        self._records.append(record)
        self._keys.append(key)
        self._trim(millis)
        self._notify()
        return Order.APPEND, record.id

    async def last_moves(self, request_ids: Collection[int]) -> dict[int, int]:
        return {
            request_id: self._order[request_id] for request_id in request_ids if request_id in self._order
        }

    async def known_deletes(self, request_ids: Collection[int]) -> set[int]:
        return {request_id for request_id in request_ids if request_id in self._deleted}

    def _trim(self, now_millis: int) -> None:
        excess = len(self._records) - self.retain_entries
        if excess <= 0:
            return
        cutoff = (now_millis - int(self.retain_seconds * 1000), 0)
        drop = min(excess, bisect.bisect_left(self._keys, cutoff))
        if drop > 0:
            del self._records[:drop]
            del self._keys[:drop]

    def _notify(self) -> None:
        appended, self._appended = self._appended, asyncio.Event()
        appended.set()

    async def read_after(self, after: str, count: int) -> list[EventRecord]:
        start = bisect.bisect_right(self._keys, id_key(after))
        return self._records[start : start + count]

    async def read_new(self, after: str, count: int, block: float) -> list[EventRecord]:
        appended = self._appended
        records = await self.read_after(after, count)
        if records or block <= 0:
            return records
        try:
            await asyncio.wait_for(appended.wait(), block)
        except TimeoutError:
            return []
        return await self.read_after(after, count)

    async def retains(self, record_id: str) -> bool:
        key = id_key(record_id)
        index = bisect.bisect_left(self._keys, key)
        return index < len(self._keys) and self._keys[index] == key

    async def last_id(self) -> str | None:
        return self._records[-1].id if self._records else None

    async def last_generated_id(self) -> str | None:
        """The id of the last append (kept or not); this stream is never replaced under a reader."""
        return None if self._last == (0, 0) else f"{self._last[0]}-{self._last[1]}"

    def last_id_now(self) -> str:
        """The newest record's id, or the stream's start while it is empty."""
        return self._records[-1].id if self._records else STREAM_START

    def __len__(self) -> int:
        return len(self._records)
