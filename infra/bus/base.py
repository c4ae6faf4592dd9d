"""What both buses do over their stream: publish records in order, read the stream once per
process, and hand what it reads to local consumers.

- ``publish(event)``: append the record (in its request's history order, `infra.bus.ordering`);
  every `TRIM_EVERY` appends, trim the stream to its retention.
- ``subscribe(...)``: a local subscriber of events (bounded queue, see `infra.bus.fanout`).
- ``add_listener(listener)``: a consumer of whole batches of records with their ids, awaited in
  stream order (the live hub); a slow listener slows the reading, never loses records.
- ``start()``: begin reading (one `follow` loop for the process); ``close()`` stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Collection, Iterable
from datetime import datetime, timedelta
from types import TracebackType
from typing import Protocol

from redis.exceptions import RedisError

from infra.bus.fanout import DEFAULT_SUBSCRIBER_QUEUE, Fanout, Gap, OverflowPolicy, Subscription
from infra.bus.ordering import HOLD_SECONDS, Order, append_in_order
from infra.bus.records import STREAM_START, EventRecord, id_time
from infra.bus.stream import EventStream, FollowState, follow
from models.events import UpdateRequestChanged

logger = logging.getLogger(__name__)

#: Appends between two trims of the stream (per process).
TRIM_EVERY = 500
#: How long closing waits for the cancelled stream reader before it gives up on it.
CLOSE_GRACE_SECONDS = 5.0
#: A move the stream knows nothing of is announced again only when made this long after the
#: stream's oldest record: stream ids and `at` come from different clocks.
UNKNOWN_MARGIN = timedelta(seconds=5)


class AppendableStream(EventStream, Protocol):
    async def append(self, event: UpdateRequestChanged, force: bool = False) -> tuple[Order, str | None]: ...

    async def last_moves(self, request_ids: Collection[int]) -> dict[int, int]:
        """The sequence of the last move the stream took, per request it still remembers."""
        ...

    async def known_deletes(self, request_ids: Collection[int]) -> set[int]:
        """Those of these requests whose delete's REMOVED the stream took (and still remembers)."""
        ...


class RecordListener(Protocol):
    async def on_records(self, records: list[EventRecord]) -> None: ...

    async def on_gap(self, gap: Gap) -> None: ...


class StreamBus:
    #: Whether local subscribers get their events from the reading loop (else `publish` hands
    #: them over itself: the in-process bus, whose writer and reader are one process).
    fanout_on_read = True

    def __init__(self, stream: AppendableStream, *, hold_seconds: float = HOLD_SECONDS) -> None:
        self.stream = stream
        #: How long a record waits for its predecessor (`infra.bus.ordering`).
        self.hold_seconds = hold_seconds
        self._fanout = Fanout()
        self._listeners: list[RecordListener] = []
        self._reader: asyncio.Task[None] | None = None
        self._appends = 0
        #: The reading loop's state: `listening` is set while it reads, `position` is the last
        #: record id it handed out (or where it started).
        self.follow_state = FollowState()

    @property
    def listening(self) -> asyncio.Event:
        return self.follow_state.listening

    @property
    def reconnects(self) -> int:
        return self.follow_state.reconnects

    @property
    def reconnect_attempts(self) -> int:
        return self.follow_state.reconnect_attempts

    @property
    def listener_count(self) -> int:
        return len(self._listeners)

    @property
    def subscriber_count(self) -> int:
        return len(self._fanout)

    async def publish(self, event: UpdateRequestChanged) -> str | None:
        """Append the record of `event`; its id, or None when a later record of its request was
        in already (then the database's state supersedes it)."""
        stream = self.stream

        async def attempt(force: bool) -> tuple[Order, str | None]:
            return await stream.append(event, force)

        record_id = await append_in_order(attempt, self.hold_seconds)
        if record_id is not None:
            self._appends += 1
            if self._appends % TRIM_EVERY == 1:
                await self.trim(record_id)
        return record_id

    async def trim(self, newest_id: str) -> None:
        """Keep the stream to its retention (the memory stream trims as it appends)."""

    async def announce_missing(self, events: Iterable[UpdateRequestChanged]) -> list[EventRecord]:
        """Append the records of these latest moves and deletes (`models.requests.announced`)
        that the stream never took, and return them.

        - The stream's last move of the request comes before: right before (a delete: that very
          move), the record goes in as what it is; further back, as a replacement (readers show a
          SNAPSHOT, of a deleted request: REMOVED).
        - The stream knows nothing of the request: the record goes in when its event came after
          the stream's oldest record (by `UNKNOWN_MARGIN`), since the stream would know of it had
          it come (a lost CREATED, say). An older one is left alone: its record may have gone with
          the retention or with Redis's data, and its readers resynchronised then.
        - A delete the stream took (`known_deletes`) is never appended again.

        Appending again what another process appended meanwhile is refused by the stream (stale),
        so any number of callers may do this at once."""
        candidates = [e for e in events if e.sequence is not None and (e.is_move or e.is_delete)]
        if not candidates:
            return []
        requests = {event.update_request_id for event in candidates}
        known = await self.stream.last_moves(requests)
        deleted = await self.stream.known_deletes({e.update_request_id for e in candidates if e.is_delete})
        kept_since: datetime | None = None
        if any(event.update_request_id not in known for event in candidates):
            oldest = await self.stream.read_after(STREAM_START, 1)
            kept_since = id_time(oldest[0].id) + UNKNOWN_MARGIN if oldest else None
        appended = []
        for event in candidates:
            sequence, last = event.sequence or 0, known.get(event.update_request_id)
            # The sequence the stream's last move has when this record comes right after it.
            before = sequence if event.is_delete else sequence - 1
            if (last is not None and last > before) or event.update_request_id in deleted:
                continue
            if last is None and (kept_since is None or event.at <= kept_since):
                continue
            order, record_id = await self.stream.append(event, force=True)
            if order is Order.APPEND and record_id is not None:
                appended.append(EventRecord(record_id, event, replaced=last is not None and last != before))
        return appended

    def subscribe(
        self, max_queued: int = DEFAULT_SUBSCRIBER_QUEUE, *, overflow: OverflowPolicy = "drop_oldest"
    ) -> Subscription:
        return self._fanout.add(max_queued, overflow)

    def add_listener(self, listener: RecordListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: RecordListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    async def start(self) -> None:
        if self._reader is None:
            with contextlib.suppress(RedisError, OSError):  # unreachable: `follow` finds its start
                self.follow_state.position = await self.stream.last_id() or STREAM_START
            self._start_reading()

    def _start_reading(self) -> None:
        if self._reader is None:
            self._reader = asyncio.create_task(
                self._read(self.follow_state.position), name=f"event stream reader {id(self):x}"
            )

    @property
    def started(self) -> bool:
        return self._reader is not None

    async def _read(self, after: str | None) -> None:
        async for item in follow(self.stream, after, state=self.follow_state):
            if isinstance(item, Gap):
                self._fanout.deliver_gap(item)
                for listener in list(self._listeners):
                    await self._call(listener.on_gap(item))
                continue
            if self.fanout_on_read:
                for record in item:
                    self._fanout.deliver(record.event)
            for listener in list(self._listeners):
                await self._call(listener.on_records(item))

    @staticmethod
    async def _call(work: Awaitable[None]) -> None:
        try:
            await work
        except Exception:  # one failing consumer must not stop the process's reading
            logger.exception("event stream: a listener failed")

    async def close(self) -> None:
        if self._reader is not None:
            reader, self._reader = self._reader, None
            reader.cancel()
            # Bounded: a reader that does not end must not hold the process's shutdown forever.
            done, _ = await asyncio.wait({reader}, timeout=CLOSE_GRACE_SECONDS)
            if reader not in done:
                logger.error("event stream: the reader did not stop within %.0fs", CLOSE_GRACE_SECONDS)
            elif not reader.cancelled() and reader.exception() is not None:
                logger.error("event stream: the reader failed", exc_info=reader.exception())
        self._fanout.close_all()

    async def __aenter__(self) -> StreamBus:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
