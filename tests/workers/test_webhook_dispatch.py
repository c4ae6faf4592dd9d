"""The webhook dispatcher over the real streams (in memory, Redis) and the real database: records
in stream order become deliveries in that order; a restart resumes after the stored position with
no duplicate and no loss; one dispatcher at a time; a gap is counted and reading goes on."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from infra.bus import STREAM_START, EventStream, MemoryStream, RedisStream, public_cursor
from infra.bus.records import id_key
from infra.bus.wire import event_to_json
from infra.metrics import REGISTRY
from models.enums import EventType, Role, UpdateStatus
from models.events import UpdateRequestChanged
from models.tables import UpdateRequest, WebhookDelivery
from models.webhooks.position import load_position, store_position
from tests import support
from tests.factories import make_account
from tests.support_sql import count_statements
from tests.support_webhooks import add_webhook, make_world
from tests.workers.conftest import REDIS_URL
from workers import webhook_dispatch
from workers.leader_lease import Lease, LocalLease, RedisLease
from workers.webhook_dispatch import WebhookDispatcher, lease_key, running
from workers.webhook_positions import StoredPositions

WITHIN = 10.0
HOOK_URL = "https://93.184.215.14/hook"


class Jobs:
    """The queue's side: which endpoints got a delivery job."""

    def __init__(self) -> None:
        self.webhook_ids: list[int] = []

    async def enqueue_webhook(self, webhook_id: int, delay: float = 0.0) -> None:
        self.webhook_ids.append(webhook_id)


@pytest.fixture
async def client() -> AsyncIterator[aioredis.Redis]:
    redis = aioredis.Redis.from_url(REDIS_URL, socket_timeout=5)
    yield redis
    await redis.aclose()


@pytest.fixture
def namespace(run_id: str) -> str:
    return f"{run_id}-dispatch-{os.urandom(4).hex()}"


@pytest.fixture(params=["memory", "redis"])
async def stream(
    request: pytest.FixtureRequest, client: aioredis.Redis, namespace: str
) -> AsyncIterator[EventStream]:
    if request.param == "memory":
        yield MemoryStream()
        return
    yield RedisStream(client, namespace)
    keys = [key async for key in client.scan_iter(f"{namespace}:*")]
    if keys:
        await client.delete(*keys)


def stored_dispatcher(
    stream: EventStream, namespace: str, jobs: Jobs | None = None, lease: Lease | None = None
) -> WebhookDispatcher:
    """A dispatcher of `stream` whose position is stored in the database under `namespace`."""
    return WebhookDispatcher(stream, jobs if jobs is not None else Jobs(), StoredPositions(namespace), lease)


def event(
    request: UpdateRequest,
    type: EventType = EventType.STATUS_CHANGED,
    status: UpdateStatus = UpdateStatus.SCHEDULED,
    from_status: UpdateStatus | None = UpdateStatus.TO_BE_SCHEDULED,
) -> UpdateRequestChanged:
    return UpdateRequestChanged(
        type=type,
        update_request_id=request.id,
        district_id=request.district_id,
        status=status,
        at=datetime.now(UTC),
        from_status=None if type is EventType.CREATED else from_status,
    )


async def append(stream: EventStream, *events: UpdateRequestChanged) -> list[str]:
    ids = []
    for item in events:
        _, record_id = await stream.append(item)  # type: ignore[attr-defined]
        assert record_id is not None
        ids.append(record_id)
    return ids


async def caught_up(dispatcher: WebhookDispatcher, record_id: str, within: float = WITHIN) -> None:
    """Until `dispatcher` has fanned out every record up to `record_id`."""
    async with asyncio.timeout(within):
        while True:
            dispatcher.progressed.clear()
            if dispatcher.position == record_id:
                return
            await dispatcher.progressed.wait()


async def started(dispatcher: WebhookDispatcher, within: float = WITHIN) -> None:
    """Until `dispatcher` holds its lease and knows where it reads from."""
    await asyncio.wait_for(dispatcher.reading.wait(), within)


async def cursors_of(webhook_id: int) -> list[str]:
    deliveries = await WebhookDelivery.filter(webhook_id=webhook_id).order_by("id")
    return [delivery.event_cursor for delivery in deliveries]


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def gaps_counted(reason: str) -> float:
    return sample("updatedesk_webhook_dispatch_gaps_total", reason=reason)


async def test_records_in_stream_order_become_deliveries_in_that_order(
    db: support.TestDatabase, stream: EventStream, namespace: str
) -> None:
    world = await make_world()
    own_hook = await add_webhook(world.owner, HOOK_URL, world.own)
    staff = await make_account(Role.HOSTING_STAFF)
    every_hook = await add_webhook(staff, HOOK_URL)
    # Written before the first start: history, not replayed to anyone.
    await append(stream, event(world.own_request, EventType.CREATED, UpdateStatus.TO_BE_SCHEDULED))
    jobs = Jobs()
    dispatcher = stored_dispatcher(stream, namespace, jobs)
    async with running(dispatcher):
        await started(dispatcher)
        ids = await append(
            stream,
            event(world.own_request),
            event(world.other_request, EventType.CREATED, UpdateStatus.TO_BE_SCHEDULED),
            event(world.own_request, status=UpdateStatus.NOT_STARTED, from_status=UpdateStatus.SCHEDULED),
            event(world.other_request),
            event(world.own_request, status=UpdateStatus.IN_PROGRESS, from_status=UpdateStatus.NOT_STARTED),
        )
        await caught_up(dispatcher, ids[-1])

    cursors = [public_cursor(record_id) for record_id in ids]
    assert await cursors_of(own_hook.id) == [cursors[0], cursors[2], cursors[4]]
    assert await cursors_of(every_hook.id) == cursors
    assert set(jobs.webhook_ids) == {own_hook.id, every_hook.id}
    assert await load_position(namespace) == ids[-1]


async def test_a_restart_resumes_after_the_stored_position_with_no_duplicate_and_no_loss(
    db: support.TestDatabase, stream: EventStream, namespace: str
) -> None:
    world = await make_world()
    hook = await add_webhook(world.owner, HOOK_URL, world.own)
    first = stored_dispatcher(stream, namespace)
    async with running(first):
        await started(first)
        before = await append(stream, event(world.own_request), event(world.own_request))
        await caught_up(first, before[-1])
    # Written while no dispatcher runs (a deploy, a crash): not lost.
    during = await append(stream, event(world.own_request), event(world.own_request))

    second_jobs = Jobs()
    second = stored_dispatcher(stream, namespace, second_jobs)
    async with running(second):
        await caught_up(second, during[-1])
        assert second.began is not None and (second.began.after, second.began.gap) == (before[-1], False)
    everything = [public_cursor(record_id) for record_id in before + during]
    assert await cursors_of(hook.id) == everything
    assert second_jobs.webhook_ids == [hook.id]

    # A dispatcher that died after fanning out but before storing its position: the same records
    # are fanned out again and make no second delivery (and no job).
    await store_position(namespace, before[0])
    third_jobs = Jobs()
    third = stored_dispatcher(stream, namespace, third_jobs)
    async with running(third):
        await caught_up(third, during[-1])
    assert await cursors_of(hook.id) == everything
    assert third_jobs.webhook_ids == []


async def test_the_first_start_on_an_empty_stream_misses_nothing_written_after_it(
    db: support.TestDatabase, stream: EventStream, namespace: str
) -> None:
    world = await make_world()
    hook = await add_webhook(world.owner, HOOK_URL, world.own)
    dispatcher = stored_dispatcher(stream, namespace)
    async with running(dispatcher):
        await started(dispatcher)
    assert await load_position(namespace) == "0-0"  # stored before any record came
    ids = await append(stream, event(world.own_request, EventType.CREATED, UpdateStatus.TO_BE_SCHEDULED))
    again = stored_dispatcher(stream, namespace)
    async with running(again):
        await caught_up(again, ids[-1])
    assert await cursors_of(hook.id) == [public_cursor(ids[0])]
    assert again.gaps == 0


async def test_a_position_the_stream_no_longer_keeps_is_a_counted_gap_and_reading_goes_on(
    db: support.TestDatabase, client: aioredis.Redis, namespace: str
) -> None:
    stream = RedisStream(client, namespace)
    world = await make_world()
    hook = await add_webhook(world.owner, HOOK_URL, world.own)
    try:
        ids = await append(stream, *(event(world.own_request) for _ in range(3)))
        await store_position(namespace, ids[0])
        await client.xtrim(stream.key, maxlen=1, approximate=False)  # only the newest is kept
        counted = gaps_counted("position_not_kept")
        dispatcher = stored_dispatcher(stream, namespace)
        async with running(dispatcher):
            await caught_up(dispatcher, ids[-1])
        assert dispatcher.gaps == 1
        assert gaps_counted("position_not_kept") == counted + 1
        assert await cursors_of(hook.id) == [public_cursor(ids[-1])]
    finally:
        await client.delete(stream.key, stream.order_key, stream.order_at_key)


async def test_a_lost_connection_to_the_stream_is_a_counted_gap_and_reading_goes_on(
    db: support.TestDatabase, client: aioredis.Redis, namespace: str
) -> None:
    name = f"{namespace}-reader"
    reader = aioredis.Redis.from_url(
        REDIS_URL, client_name=name, socket_timeout=5, retry=Retry(NoBackoff(), 0), max_connections=1
    )
    stream = RedisStream(client, namespace, reader=reader)
    world = await make_world()
    hook = await add_webhook(world.owner, HOOK_URL, world.own)
    counted = gaps_counted("reconnected")
    try:
        dispatcher = stored_dispatcher(stream, namespace)
        async with running(dispatcher):
            await started(dispatcher)
            before = await append(stream, event(world.own_request))
            await caught_up(dispatcher, before[-1])
            # Redis drops the dispatcher's reading connection (a restart, a network cut).
            killed = [c["id"] for c in await client.client_list() if c.get("name") == name]
            assert killed and all([await client.client_kill_filter(_id=c) for c in killed])
            async with asyncio.timeout(WITHIN):
                while True:
                    dispatcher.progressed.clear()
                    if dispatcher.gaps:
                        break
                    await dispatcher.progressed.wait()
            after = await append(stream, event(world.own_request))
            await caught_up(dispatcher, after[-1])
        assert dispatcher.gaps == 1 and gaps_counted("reconnected") == counted + 1
        assert await cursors_of(hook.id) == [public_cursor(record_id) for record_id in before + after]
    finally:
        await reader.aclose()
        await client.delete(stream.key, stream.order_key, stream.order_at_key)


async def ids_an_hour_ahead(client: aioredis.Redis, stream: RedisStream) -> None:
    """The stream's next ids come from a clock an hour ahead (as a lost server's did)."""
    await client.execute_command("XSETID", stream.key, f"{int(time.time() * 1000) + 3_600_000}-0")


async def lose_the_data(client: aioredis.Redis, stream: RedisStream) -> None:
    await client.delete(stream.key, stream.order_key, stream.order_at_key, stream.deleted_key)


async def test_a_position_ahead_of_a_new_stream_is_a_counted_gap_and_its_records_go_out(
    db: support.TestDatabase, client: aioredis.Redis, namespace: str
) -> None:
    """Redis lost its data while the dispatcher was stopped, and the new server's clock is behind
    the lost one's: every new record sorts before the stored position."""
    stream = RedisStream(client, namespace)
    world = await make_world()
    hook = await add_webhook(world.owner, HOOK_URL, world.own)
    try:
        await append(stream, event(world.own_request))
        await ids_an_hour_ahead(client, stream)
        ahead = await append(stream, event(world.own_request))
        await store_position(namespace, ahead[-1])
        await lose_the_data(client, stream)
        below = await append(stream, event(world.own_request))
        assert id_key(below[-1]) < id_key(ahead[-1])
        counted = gaps_counted("position_not_kept")
        dispatcher = stored_dispatcher(stream, namespace)
        async with running(dispatcher):
            await caught_up(dispatcher, below[-1])
        assert dispatcher.gaps == 1 and gaps_counted("position_not_kept") == counted + 1
        assert await cursors_of(hook.id) == [public_cursor(below[-1])]
    finally:
        await lose_the_data(client, stream)


async def test_a_stream_replaced_under_the_dispatcher_is_a_counted_gap_and_reading_goes_on(
    db: support.TestDatabase, client: aioredis.Redis, namespace: str
) -> None:
    """The key deleted (FLUSHALL, DEL, a failover) while the dispatcher waits, its connection kept,
    and the new stream's ids below its position: it reads the new stream from its start."""
    stream = RedisStream(client, namespace)
    world = await make_world()
    hook = await add_webhook(world.owner, HOOK_URL, world.own)
    counted = gaps_counted("position_not_kept")
    try:
        await append(stream, event(world.own_request))
        await ids_an_hour_ahead(client, stream)
        dispatcher = WebhookDispatcher(stream, Jobs(), StoredPositions(namespace), block=0.2)
        async with running(dispatcher):
            await started(dispatcher)
            ahead = await append(stream, event(world.own_request))
            await caught_up(dispatcher, ahead[-1])
            await lose_the_data(client, stream)
            below = await append(stream, event(world.own_request))
            await caught_up(dispatcher, below[-1])
            async with asyncio.timeout(WITHIN):  # the gap comes once the new stream is read
                while True:
                    dispatcher.progressed.clear()
                    if dispatcher.gaps:
                        break
                    await dispatcher.progressed.wait()
        assert dispatcher.gaps == 1 and gaps_counted("position_not_kept") == counted + 1
        assert await cursors_of(hook.id) == [public_cursor(ahead[-1]), public_cursor(below[-1])]
    finally:
        await lose_the_data(client, stream)


class HeldJobs(Jobs):
    """A queue that holds the dispatcher in its batch until `release` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def enqueue_webhook(self, webhook_id: int, delay: float = 0.0) -> None:
        self.entered.set()
        await self.release.wait()
        await super().enqueue_webhook(webhook_id, delay)


async def test_the_holder_shows_itself_and_how_long_the_oldest_waiting_record_has_waited(
    db: support.TestDatabase, client: aioredis.Redis, namespace: str
) -> None:
    stream = RedisStream(client, namespace)
    world = await make_world()
    await add_webhook(world.owner, HOOK_URL, world.own)
    written = int(time.time() * 1000) - 90_000  # a record the stream took 90 s ago
    jobs = HeldJobs()
    try:
        dispatcher = stored_dispatcher(stream, namespace, jobs)
        async with running(dispatcher):
            await started(dispatcher)
            assert sample("updatedesk_webhook_dispatcher_held") == 1
            added = await client.xadd(
                stream.key, {"e": event_to_json(event(world.own_request)), "r": "0"}, id=f"{written}-0"
            )
            await asyncio.wait_for(jobs.entered.wait(), WITHIN)
            # Its batch is not done: the record still waits, for 90 s and more by now.
            lag = await dispatcher.measure_lag()
            assert lag is not None and 90 <= lag < 90 + WITHIN
            assert sample("updatedesk_webhook_dispatch_lag_seconds") == lag
            jobs.release.set()
            await caught_up(dispatcher, added.decode() if isinstance(added, bytes) else added)
            assert sample("updatedesk_webhook_dispatch_lag_seconds") == 0  # caught up
        assert sample("updatedesk_webhook_dispatcher_held") == 0
    finally:
        await client.delete(stream.key)


class BrokenPositions:
    """A position that cannot be stored (say the database refuses): every batch fails."""

    async def load(self) -> str | None:
        return "0-0"

    async def store(self, record_id: str) -> None:
        raise RuntimeError("cannot store the position")


async def test_a_dispatcher_that_keeps_failing_shows_a_growing_lag_and_fans_out_again(
    db: support.TestDatabase, client: aioredis.Redis, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every batch stores its position here (a read again makes no delivery, so the throttle
    # would skip the store that fails).
    monkeypatch.setattr(webhook_dispatch, "POSITION_STORE_SECONDS", 0.0)
    stream = RedisStream(client, namespace)
    world = await make_world()
    hook = await add_webhook(world.owner, HOOK_URL, world.own)
    written = int(time.time() * 1000) - 90_000
    try:
        dispatcher = WebhookDispatcher(stream, Jobs(), BrokenPositions(), LocalLease(ttl=0.3))
        async with running(dispatcher):
            await client.xadd(
                stream.key, {"e": event_to_json(event(world.own_request)), "r": "0"}, id=f"{written}-0"
            )
            async with asyncio.timeout(WITHIN):
                while True:
                    dispatcher.progressed.clear()
                    if dispatcher.failures >= 2:  # failed, then read the same record again
                        break
                    await dispatcher.progressed.wait()
            assert 90 <= sample("updatedesk_webhook_dispatch_lag_seconds") < 90 + WITHIN
        assert len(await cursors_of(hook.id)) == 1  # fanned out twice, delivered once
    finally:
        await client.delete(stream.key)


async def test_one_dispatcher_works_at_a_time_and_another_takes_over_when_it_stops(
    db: support.TestDatabase, client: aioredis.Redis, namespace: str
) -> None:
    stream = RedisStream(client, namespace)
    world = await make_world()
    hook = await add_webhook(world.owner, HOOK_URL, world.own)
    key = lease_key(namespace)
    positions = StoredPositions(namespace)
    both = [WebhookDispatcher(stream, Jobs(), positions, RedisLease(client, key, ttl=0.6)) for _ in range(2)]
    try:
        async with contextlib.AsyncExitStack() as stack:
            tasks = {asyncio.ensure_future(d.holding.wait()): d for d in both}
            for dispatcher in both:
                await stack.enter_async_context(running(dispatcher))
            done, pending = await asyncio.wait(tasks, timeout=WITHIN, return_when=asyncio.FIRST_COMPLETED)
            for waiter in pending:
                waiter.cancel()
            holder = tasks[done.pop()]
            other = both[1 - both.index(holder)]
            await started(holder)
            ids = await append(stream, *(event(world.own_request) for _ in range(3)))
            await caught_up(holder, ids[-1])
            # The holder has renewed its lease several times meanwhile; the other never read.
            assert (holder.fanned_out, other.fanned_out) == (3, 0)
            assert not other.holding.is_set() and other.position is None

            holder.stop()
            await started(other, within=WITHIN)
            assert other.began is not None and other.began.after == ids[-1]  # where the holder stopped
            later = await append(stream, event(world.own_request))
            await caught_up(other, later[-1])
            assert other.fanned_out == 1
        assert await cursors_of(hook.id) == [public_cursor(record_id) for record_id in ids + later]
    finally:
        await client.delete(stream.key, stream.order_key, stream.order_at_key, key)


async def test_a_dead_holder_s_lease_expires_and_then_another_dispatches(
    db: support.TestDatabase, client: aioredis.Redis, namespace: str
) -> None:
    stream = RedisStream(client, namespace)
    world = await make_world()
    hook = await add_webhook(world.owner, HOOK_URL, world.own)
    key = lease_key(namespace)
    ttl = 0.8
    dead = RedisLease(client, key, ttl=ttl)
    try:
        assert await dead.acquire()  # ...and its process dies: it never renews nor releases
        taken_at = time.monotonic()
        lease = RedisLease(client, key, ttl)
        dispatcher = stored_dispatcher(stream, namespace, lease=lease)
        async with running(dispatcher):
            await started(dispatcher)
            assert time.monotonic() - taken_at >= ttl * 0.9  # not before the lease expired
            ids = await append(stream, event(world.own_request))
            await caught_up(dispatcher, ids[-1])
            assert not await dead.renew()  # the dead holder, were it to wake, holds nothing
        assert await cursors_of(hook.id) == [public_cursor(ids[0])]
    finally:
        await client.delete(stream.key, stream.order_key, stream.order_at_key, key)


async def test_a_lease_is_renewed_and_released_only_by_its_holder(
    client: aioredis.Redis, namespace: str
) -> None:
    key = lease_key(namespace)
    first, second = RedisLease(client, key, ttl=5), RedisLease(client, key, ttl=5)
    try:
        assert await first.acquire() and not await second.acquire()
        assert await first.renew() and not await second.renew()
        await second.release()  # not its lease: nothing happens
        assert await client.get(key) == first.token.encode()
        await first.release()
        assert await second.acquire() and not await first.renew()
    finally:
        await client.delete(key)


async def test_a_batch_of_records_reads_the_endpoints_once(db: support.TestDatabase, namespace: str) -> None:
    """The endpoints are read once per batch, not once per record (with no webhook, the usual case,
    a busy stream costs one statement per batch), and each record still reaches exactly the
    endpoints that may carry it."""
    world = await make_world()
    own_hook = await add_webhook(world.owner, HOOK_URL, world.own)
    every_hook = await add_webhook(await make_account(Role.HOSTING_STAFF), HOOK_URL)
    stream = MemoryStream()
    ids = await append(
        stream,
        event(world.own_request),
        event(world.other_request),
        event(world.own_request, status=UpdateStatus.NOT_STARTED, from_status=UpdateStatus.SCHEDULED),
        event(world.other_request, status=UpdateStatus.NOT_STARTED, from_status=UpdateStatus.SCHEDULED),
    )
    records = await stream.read_after(STREAM_START, 10)
    assert [record.id for record in records] == ids
    jobs = Jobs()
    with count_statements() as statements:
        await stored_dispatcher(stream, namespace, jobs).fan_out(records)
    endpoint_reads = [text for text in statements.statements if 'FROM "webhook"' in text]
    assert len(endpoint_reads) == 1, endpoint_reads
    cursors = [public_cursor(record_id) for record_id in ids]
    assert await cursors_of(own_hook.id) == [cursors[0], cursors[2]]
    assert await cursors_of(every_hook.id) == cursors
    assert set(jobs.webhook_ids) == {own_hook.id, every_hook.id}


async def test_the_position_is_stored_when_deliveries_were_made_or_the_dispatcher_stops(
    db: support.TestDatabase, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches no webhook wanted do not write the position each time (the throttle is set to an
    hour here); a batch that made deliveries does, and so does a dispatcher that stops, so a
    restart neither repeats a delivery nor starts before what was reached."""
    monkeypatch.setattr(webhook_dispatch, "POSITION_STORE_SECONDS", 3600.0)
    world = await make_world()
    stream = MemoryStream()
    jobs = Jobs()
    dispatcher = stored_dispatcher(stream, namespace, jobs)
    async with running(dispatcher):
        await started(dispatcher)
        first_stored = await load_position(namespace)
        [unwanted] = await append(stream, event(world.own_request))
        await caught_up(dispatcher, unwanted)
        assert await load_position(namespace) == first_stored  # nothing delivered: not written
        hook = await add_webhook(world.owner, HOOK_URL, world.own)
        [wanted] = await append(stream, event(world.own_request, status=UpdateStatus.NOT_STARTED))
        await caught_up(dispatcher, wanted)
        assert await load_position(namespace) == wanted  # a delivery was made: written at once
        [other] = await append(stream, event(world.other_request))
        await caught_up(dispatcher, other)
        assert await load_position(namespace) == wanted
    assert await load_position(namespace) == other  # stopping writes what was reached
    assert await cursors_of(hook.id) == [public_cursor(wanted)]
    assert jobs.webhook_ids == [hook.id]


async def test_records_written_while_the_dispatcher_gathers_are_fanned_out_as_one_batch(
    db: support.TestDatabase, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Caught up, the dispatcher waits GATHER_SECONDS before reading again (two seconds here):
    records written meanwhile cost one batch's work (one read of the endpoints), not one each."""
    monkeypatch.setattr(webhook_dispatch, "GATHER_SECONDS", 2.0)
    world = await make_world()
    hook = await add_webhook(world.owner, HOOK_URL, world.own)
    stream = MemoryStream()
    dispatcher = stored_dispatcher(stream, namespace)
    async with running(dispatcher):
        await started(dispatcher)
        [first] = await append(stream, event(world.own_request))
        await caught_up(dispatcher, first)
        with count_statements() as statements:
            burst: list[str] = []
            for _ in range(5):  # records arriving spaced out, as a busy worker writes them
                burst += await append(stream, event(world.own_request))
                await asyncio.sleep(0.02)
            await caught_up(dispatcher, burst[-1])
    endpoint_reads = [text for text in statements.statements if 'FROM "webhook"' in text]
    assert len(endpoint_reads) == 1, endpoint_reads
    assert await cursors_of(hook.id) == [public_cursor(record_id) for record_id in [first, *burst]]


# --------------------------------------------------------------------------- unreadable records

#: The record the tests make unreadable: the move to NOT_STARTED.
UNREADABLE = UpdateStatus.NOT_STARTED


def failing(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make `fan_out` raise for every record of a move to UNREADABLE; the cursors it was tried at."""
    real = webhook_dispatch.fan_out
    tries: list[str] = []

    async def fan_out(record: Any, candidates: Any) -> list[int]:
        if record.to_status is UNREADABLE:
            tries.append(record.cursor)
            raise ValueError("this record cannot be fanned out")
        return await real(record, candidates=candidates)

    monkeypatch.setattr(webhook_dispatch, "fan_out", fan_out)
    return tries


def moves(request: UpdateRequest) -> list[UpdateRequestChanged]:
    """SCHEDULED, then the unreadable NOT_STARTED, then IN_PROGRESS."""
    return [
        event(request),
        event(request, status=UNREADABLE, from_status=UpdateStatus.SCHEDULED),
        event(request, status=UpdateStatus.IN_PROGRESS, from_status=UNREADABLE),
    ]


async def test_an_unreadable_record_is_skipped_and_the_records_behind_it_are_delivered(
    db: support.TestDatabase, stream: EventStream, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await make_world()
    hook = await add_webhook(world.owner, HOOK_URL, world.own)
    gaps_before = gaps_counted("unreadable_record")
    tries = failing(monkeypatch)
    dispatcher = stored_dispatcher(stream, namespace, lease=LocalLease(ttl=0.3))
    async with running(dispatcher):
        await started(dispatcher)
        first, bad, last = await append(stream, *moves(world.own_request))
        await caught_up(dispatcher, last)
    assert tries == [public_cursor(bad)] * webhook_dispatch.UNREADABLE_ATTEMPTS  # tried again, then skipped
    assert await cursors_of(hook.id) == [public_cursor(first), public_cursor(last)]
    assert gaps_counted("unreadable_record") == gaps_before + 1


async def test_a_record_that_fails_while_the_database_is_away_is_never_skipped(
    db: support.TestDatabase, stream: EventStream, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await make_world()
    hook = await add_webhook(world.owner, HOOK_URL, world.own)
    tries = failing(monkeypatch)
    away = True

    async def answering() -> bool:
        return not away

    dispatcher = stored_dispatcher(stream, namespace, lease=LocalLease(ttl=0.3))
    monkeypatch.setattr(dispatcher, "_answering", answering)
    async with running(dispatcher):
        await started(dispatcher)
        first, bad, last = await append(stream, *moves(world.own_request))
        async with asyncio.timeout(WITHIN):
            while len(tries) < 2 * webhook_dispatch.UNREADABLE_ATTEMPTS:
                dispatcher.progressed.clear()
                await dispatcher.progressed.wait()
        assert set(tries) == {public_cursor(bad)}  # tried again and again, never past it
        assert await cursors_of(hook.id) == [public_cursor(first)]  # nothing past the record
        away = False  # the database is back and the record still fails: now it is skipped
        await caught_up(dispatcher, last)
    assert await cursors_of(hook.id) == [public_cursor(first), public_cursor(last)]
