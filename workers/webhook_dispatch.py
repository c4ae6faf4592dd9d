"""The webhook dispatcher: the event stream, read in order, becomes webhook deliveries.

It follows the stream (`infra.bus.follow`) from its stored position, fans out each record
(`models.webhooks.fanout.fan_out`: one delivery per endpoint that may see it), enqueues one
delivery job per endpoint that got one, then stores its position. Where it starts, and when a gap
is declared: `models.webhooks.position`. Records fanned out again after a crash (the position
is stored after them) make no second delivery: (endpoint, cursor) is unique.

One dispatcher at a time: every worker process runs a `WebhookDispatcher`, and only the holder of
a lease (`workers.leader_lease`) reads and fans out; the others wait to take over. The holder
renews the lease every third of its time to live and stops dispatching at the first renewal
that fails, before the lease can lapse; a holder that dies stops renewing and another process
takes over once the lease expires.

Order: deliveries of one endpoint are attempted in the order they were created
(`models.webhooks.attempts`), and the one holder creates them one at a time, each record's
before the next record's, in stream order: so each endpoint gets its events in stream order,
which is each request's history order (`infra.bus.ordering`). A holder stalled past its lease
(a frozen process) could overlap its successor for a moment: both go in stream order and a
record's delivery exists once, so a delivery is created before a later record's whichever of them
creates it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from redis.exceptions import RedisError

from infra.bus import EventRecord, EventStream, Gap, follow, id_time, stream_replaced
from infra.metrics import WEBHOOK_DISPATCH_GAPS, WEBHOOK_DISPATCH_LAG, WEBHOOK_DISPATCHER_HELD
from models.webhooks.fanout import candidates_by_district, fan_out
from models.webhooks.position import Start, start_at
from workers.leader_lease import Lease, LocalLease
from workers.webhook_positions import Positions
from workers.webhook_records import UNREADABLE_ATTEMPTS, FailuresInARow, answering, webhook_record
from workers.webhooks import WebhookQueue

logger = logging.getLogger(__name__)

#: Records read (and fanned out before their endpoints' jobs are enqueued) at once.
BATCH = 100
#: After a batch smaller than BATCH (the dispatcher has caught up), how long records gather
#: before the next read.
GATHER_SECONDS = 0.05
#: How long a stopping dispatcher lets the record it is fanning out finish before it is cancelled.
STOP_GRACE_SECONDS = 5.0
#: How long the embedded dispatcher keeps fanning out what is left in its stream when it stops.
DRAIN_SECONDS = 5.0
#: A batch that created no delivery (no webhook wanted it: the usual case) stores the position at
#: most this often, not once per batch (a database write per few events). Re-reading that much
#: after a crash or a takeover creates nothing twice: the (endpoint, cursor) pair is unique. A
#: batch that created deliveries stores it at once, and so does a dispatcher that stops.
POSITION_STORE_SECONDS = 1.0


class WebhookDispatcher:
    """``run()`` until ``stop()``: wait for the lease, dispatch while holding it, release it."""

    def __init__(
        self,
        stream: EventStream,
        queue: WebhookQueue,
        positions: Positions,
        lease: Lease | None = None,
        *,
        drain_on_stop: bool = False,
        block: float = 1.0,
    ) -> None:
        self.stream = stream
        self.queue = queue
        self.positions = positions
        self.lease = lease or LocalLease()
        self.drain_on_stop = drain_on_stop
        self.block = block
        #: Set while this dispatcher holds the lease; `reading` once it knows where it starts.
        self.holding = asyncio.Event()
        self.reading = asyncio.Event()
        #: Where the last reading began, and the last record fanned out since (or that start).
        self.began: Start | None = None
        self.position: str | None = None
        self.fanned_out = 0
        self.gaps = 0
        self.failures = 0
        #: Set after each batch fanned out, each gap and each failure (tests wait on it).
        self.progressed = asyncio.Event()
        self._stop = asyncio.Event()
        self._halt = asyncio.Event()
        self._busy = False
        #: The position last stored, and when (monotonic).
        self._stored: str | None = None
        self._stored_at = 0.0
        self._failing = FailuresInARow()

    def stop(self) -> None:
        self._stop.set()
        self._halt.set()

    async def run(self) -> None:
        try:
            while not self._stop.is_set():
                if await self._acquire():
                    await self._hold()
                if not self._stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), self.lease.ttl / 3)
            if self.drain_on_stop:
                await self._drain()
        finally:
            self.holding.clear()

    async def _acquire(self) -> bool:
        try:
            return await self.lease.acquire()
        except Exception as error:  # Redis away: try again later
            logger.warning("webhook dispatcher: cannot take the lease (%s)", error)
            return False

    async def _renew(self) -> bool:
        try:
            return await self.lease.renew()
        except Exception as error:
            logger.warning("webhook dispatcher: cannot renew the lease (%s)", error)
            return False

    async def _hold(self) -> None:
        """Dispatch while the lease is ours; renew it every third of its time to live."""
        self._halt.clear()
        self.holding.set()
        WEBHOOK_DISPATCHER_HELD.set(1)
        logger.info("webhook dispatcher: this process dispatches now")
        dispatching = asyncio.create_task(self._dispatch(), name="webhook dispatcher")
        stopping = asyncio.create_task(self._stop.wait())
        try:
            while True:
                await asyncio.wait({dispatching, stopping}, timeout=self.lease.ttl / 3,
                                   return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
                if stopping.done() or dispatching.done():
                    break
                if not await self._renew():
                    logger.warning("webhook dispatcher: lease lost; another process takes over")
                    break
                await self.measure_lag()  # also while a batch is slow
        finally:
            await self._end(dispatching)
            stopping.cancel()
            self.holding.clear()
            self.reading.clear()
            WEBHOOK_DISPATCHER_HELD.set(0)
            with contextlib.suppress(Exception):
                await self.lease.release()

    async def _store(self, record_id: str) -> None:
        await self.positions.store(record_id)
        self._stored, self._stored_at = record_id, time.monotonic()

    async def _store_unsaved(self) -> None:
        """Store the position reached if a throttled batch left it unstored (stopping, or the
        lease lost): the next holder starts there."""
        if self.position is not None and self.position != self._stored:
            try:
                await self._store(self.position)
            except Exception as error:  # it restarts from the last stored one: nothing is lost
                logger.warning("webhook dispatcher: could not store its position (%s)", error)

    async def _end(self, dispatching: asyncio.Task[None]) -> None:
        """Let a record being fanned out finish (it stops at the next one), cancel a waiting read;
        store the position reached."""
        self._halt.set()
        if self._busy and not dispatching.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait({dispatching}, timeout=STOP_GRACE_SECONDS)
        dispatching.cancel()
        try:
            await dispatching
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # we are cancelled ourselves, not only the task we cancelled
        except Exception:
            logger.exception("webhook dispatcher: failed; trying again")
            self.failures += 1
            await self.measure_lag()  # what waits keeps waiting: the gauge shows it
            self.progressed.set()
        await self._store_unsaved()

    async def start(self) -> Start:
        """Where reading begins; a first position is stored at once, so that a restart before the
        first record does not move it."""
        stored = await self.positions.load()
        newest = await self.stream.last_id() if stored is None else None
        kept = stored is not None and await self.stream.retains(stored)
        # A stored record gone with a stream whose ids now sort before it (Redis lost its data,
        # its clock behind): reading after it would wait until the clock passes it.
        replaced = (
            stored is not None and not kept and stream_replaced(stored, await self.stream.last_generated_id())
        )
        start = start_at(stored, newest, kept, replaced)
        if start.first:
            await self._store(start.after)
            logger.info("webhook dispatcher: first start, from the newest record on (%s)", start.after)
        if start.gap:
            self._gap("position_not_kept", f"the record at its position {start.after} is no longer kept")
        self.began, self.position = start, start.after
        self._stored, self._stored_at = start.after, time.monotonic()
        return start

    async def _dispatch(self) -> None:
        start = await self.start()
        self.reading.set()
        async for item in follow(self.stream, start.after, count=BATCH, block=self.block):
            if isinstance(item, Gap):
                since = item.since.isoformat() if item.since else "?"
                if item.reason == "stream_replaced":
                    self._gap("position_not_kept", f"the stream no longer holds its position (Redis lost "
                              f"its data since {since}); reading the new stream from its start")  # fmt: skip
                else:
                    self._gap("reconnected", f"the stream was unreachable since {since}")
                continue
            await self.fan_out(item)
            if self._halt.is_set():
                return
            if len(item) < BATCH:
                # Caught up: let records gather before the next read, so that a busy stream costs
                # its per-batch work (the endpoints, the position, the lag) per batch, not per
                # record. Deliveries are jobs with retries; GATHER_SECONDS do not matter to them.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._halt.wait(), GATHER_SECONDS)
                if self._halt.is_set():
                    return

    async def fan_out(self, records: list[EventRecord]) -> None:
        """Deliveries of each record in order, then one job per endpoint that got any, then the
        position (after the last record done: a halt stops between two records)."""
        self._busy = True
        try:
            endpoints: dict[int, None] = {}
            done: EventRecord | None = None
            # The endpoints are read once for the batch, not once per record: with no webhook
            # (the usual case) a batch costs one statement.
            candidates = await candidates_by_district({record.event.district_id for record in records})
            for record in records:
                if self._halt.is_set() and done is not None:
                    break
                try:
                    described = webhook_record(record)
                    created = await fan_out(described, candidates=candidates[described.district_id])
                except Exception as error:
                    if not await self._skip_unreadable(record, error):
                        raise
                    created = []
                for webhook_id in created:
                    endpoints[webhook_id] = None
                done = record
            for webhook_id in endpoints:
                await self.queue.enqueue_webhook(webhook_id)
            if done is None:
                return
            if endpoints or time.monotonic() - self._stored_at >= POSITION_STORE_SECONDS:
                await self._store(done.id)
            self.position = done.id
            self.fanned_out += records.index(done) + 1
            await self.measure_lag()
            self.progressed.set()
        finally:
            self._busy = False

    async def measure_lag(self) -> float | None:
        """How long the oldest record not yet fanned out has waited (0: caught up), into the
        gauge; None (gauge unchanged) before the start or while the stream cannot be read."""
        if self.position is None:
            return None
        try:
            waiting = await self.stream.read_after(self.position, 1)
        except (RedisError, OSError):
            return None
        lag = max((datetime.now(UTC) - id_time(waiting[0].id)).total_seconds(), 0.0) if waiting else 0.0
        WEBHOOK_DISPATCH_LAG.set(lag)
        return lag

    async def _drain(self) -> None:
        """Fan out what is left after the position (the embedded stream dies with the process)."""
        self.position = self.position if self.position is not None else await self.positions.load()
        if self.position is None:
            return
        self._halt.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DRAIN_SECONDS):
                while records := await self.stream.read_after(self.position, BATCH):
                    await self.fan_out(records)
        await self._store_unsaved()

    async def _skip_unreadable(self, record: EventRecord, error: Exception) -> bool:
        """Whether to skip `record`, whose fan-out raised `error`: only once it failed
        UNREADABLE_ATTEMPTS times in a row and the database and the stream answer (then the
        record, not the service, is what fails)."""
        times = self._failing.add(record.id)
        if times < UNREADABLE_ATTEMPTS or not await self._answering():
            return False
        self._failing.clear()
        logger.error("webhook dispatcher: record %s failed %d times in a row while the database and "
                     "the stream answer; skipped", record.id, times, exc_info=error)  # fmt: skip
        self._gap("unreadable_record", f"record {record.id} could not be fanned out ({type(error).__name__})")
        return True

    async def _answering(self) -> bool:
        return await answering(self.stream)

    def _gap(self, reason: str, why: str) -> None:
        self.gaps += 1
        WEBHOOK_DISPATCH_GAPS.labels(reason).inc()
        self.progressed.set()
        logger.warning(
            "webhook dispatcher: %s; event records may have been lost before they were fanned out "
            "(partners can read the current state with the updateRequests query)",
            why,
        )


def lease_key(namespace: str) -> str:
    return f"{namespace}:webhooks:dispatcher"


@contextlib.asynccontextmanager
async def running(dispatcher: WebhookDispatcher) -> AsyncIterator[WebhookDispatcher]:
    """`dispatcher.run()` as a task on this loop, stopped (and its lease given up) on exit."""
    task = asyncio.create_task(dispatcher.run(), name="webhook dispatcher")
    try:
        yield dispatcher
    finally:
        dispatcher.stop()
        await task
