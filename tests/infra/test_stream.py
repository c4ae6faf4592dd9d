"""The event stream: records of one request enter in history order whichever process writes
them, a record whose predecessor never comes goes in as a replacement, retention keeps every
young record and at least the newest N, cursors are opaque and checked, and `follow` reads on
after a Redis restart (with persistence: nothing lost; a gap marker either way).

The rules run against both streams: the embedded default's memory stream and Redis Streams."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from infra.bus import (
    STREAM_START,
    EventRecord,
    Gap,
    InProcessBus,
    MemoryStream,
    RedisBus,
    RedisStream,
    follow,
    public_cursor,
    record_id_of,
    stream_replaced,
)
from infra.bus import base as bus_base
from infra.bus.base import AppendableStream, StreamBus
from infra.bus.ordering import Order
from infra.bus.records import id_key
from infra.bus.wire import event_to_json
from models.enums import EventType, UpdateStatus
from models.events import ProgressReport, UpdateRequestChanged
from tests.support_live import REDIS_URL, PrivateRedis, private_redis, wait_until

S = UpdateStatus
NOW = datetime(2026, 10, 1, tzinfo=UTC)
CHAIN = [None, S.TO_BE_SCHEDULED, S.SCHEDULED, S.NOT_STARTED, S.IN_PROGRESS, S.COMPLETED]


def move(sequence: int, request_id: int = 1) -> UpdateRequestChanged:
    """The `sequence`-th move of a request along CHAIN (1: CREATED)."""
    kind = EventType.CREATED if sequence == 1 else EventType.STATUS_CHANGED
    status = CHAIN[sequence]
    assert status is not None
    return UpdateRequestChanged(kind, request_id, 5, status, NOW, None, CHAIN[sequence - 1], sequence)


def progress(sequence: int, percent: int, request_id: int = 1) -> UpdateRequestChanged:
    report = ProgressReport(percent, "copy", None, NOW)
    return UpdateRequestChanged(
        EventType.PROGRESS, request_id, 5, S.IN_PROGRESS, NOW, report, sequence=sequence
    )


def deleted(sequence: int, request_id: int = 1, at: datetime = NOW) -> UpdateRequestChanged:
    """The REMOVED of a delete after the request's `sequence`-th move (no move itself)."""
    return UpdateRequestChanged(
        EventType.REMOVED, request_id, 5, CHAIN[sequence] or S.COMPLETED, at, sequence=sequence
    )


def shown(records: list[EventRecord]) -> list[tuple[str, int | None, bool]]:
    return [(record.event.type.value, record.event.sequence, record.replaced) for record in records]


@pytest_asyncio.fixture(params=["memory", "redis"])
async def bus(request: pytest.FixtureRequest, run_id: str) -> AsyncIterator[StreamBus]:
    if request.param == "memory":
        made: StreamBus = InProcessBus(hold_seconds=0.1)
    else:
        made = RedisBus(REDIS_URL, f"{run_id}-{os.urandom(4).hex()}", hold_seconds=0.1)
    try:
        yield made
    finally:
        await made.close()


async def everything(bus: StreamBus) -> list[EventRecord]:
    return await bus.stream.read_after(STREAM_START, 100)


# --------------------------------------------------------------------------- order per request


async def test_a_move_waits_for_its_predecessor(bus: StreamBus) -> None:
    stream = bus.stream
    assert (await stream.append(move(1)))[0] is Order.APPEND
    assert await stream.append(move(3)) == (Order.WAIT, None)
    assert await stream.append(progress(2, 10)) == (Order.WAIT, None)
    # Writers retry until the predecessor is in: publish the later move first, then the earlier.
    later = asyncio.create_task(bus.publish(move(3)))
    assert await bus.publish(move(2)) is not None
    assert await later is not None
    assert await bus.publish(progress(3, 10)) is not None
    assert shown(await everything(bus)) == [
        ("CREATED", 1, False),
        ("STATUS_CHANGED", 2, False),
        ("STATUS_CHANGED", 3, False),
        ("PROGRESS", 3, False),
    ]


async def test_records_behind_a_later_move_are_dropped(bus: StreamBus) -> None:
    for sequence in (1, 2, 3):
        await bus.publish(move(sequence))
    assert await bus.publish(move(2)) is None  # the same move once more: already in
    assert await bus.publish(progress(2, 50)) is None  # progress of a phase that is over
    assert await bus.publish(progress(3, 60)) is not None
    other = await bus.publish(move(4, request_id=2))  # another request knows nothing of these
    assert other is not None
    assert [r.event.sequence for r in await everything(bus)] == [1, 2, 3, 3, 4]


async def test_a_record_whose_predecessor_never_comes_goes_in_replaced(bus: StreamBus) -> None:
    await bus.publish(move(1))
    assert await bus.publish(move(3)) is not None  # move 2 was lost: after the hold, replaced
    assert await bus.publish(move(2)) is None  # too late now
    assert await bus.publish(move(4)) is not None
    assert shown(await everything(bus)) == [
        ("CREATED", 1, False),
        ("STATUS_CHANGED", 3, True),
        ("STATUS_CHANGED", 4, False),
    ]


async def test_events_outside_any_order_always_go_in(bus: StreamBus) -> None:
    plain = UpdateRequestChanged(EventType.STATUS_CHANGED, 9, 5, S.SCHEDULED, NOW)
    removed = UpdateRequestChanged(EventType.REMOVED, 9, 5, S.COMPLETED, NOW)  # not one delete's
    for event in (plain, plain, removed, removed):
        assert await bus.publish(event) is not None
    assert len(await everything(bus)) == 4


# --------------------------------------------------------------------------- lost records announced again


async def test_a_lost_move_right_after_the_last_is_announced_as_the_move(bus: StreamBus) -> None:
    await bus.publish(move(1))
    await bus.publish(move(2))  # move 3 was committed, its append lost
    appended = await bus.announce_missing([move(3)])
    assert shown(appended) == [("STATUS_CHANGED", 3, False)]
    assert shown(await everything(bus))[-1] == ("STATUS_CHANGED", 3, False)
    assert await bus.stream.last_moves([1]) == {1: 3}


async def test_a_lost_move_after_a_longer_gap_goes_in_replaced(bus: StreamBus) -> None:
    await bus.publish(move(1))  # moves 2 and 3 lost: only the latest can be made again
    appended = await bus.announce_missing([move(3)])
    assert shown(appended) == [("STATUS_CHANGED", 3, True)]
    assert shown(await everything(bus))[-1] == ("STATUS_CHANGED", 3, True)  # readers: a SNAPSHOT


async def test_announcing_what_the_stream_has_or_cannot_place_appends_nothing(bus: StreamBus) -> None:
    await bus.publish(move(1))
    await bus.publish(move(2))
    before = await everything(bus)
    # Already in; older than what is in; a request the stream knows nothing of, moved before the
    # stream's oldest record (its records went with the retention or Redis's data, and readers
    # resynchronised then); outside any order.
    unordered = UpdateRequestChanged(EventType.STATUS_CHANGED, 1, 5, S.SCHEDULED, NOW)
    assert await bus.announce_missing([move(2), move(1), move(3, request_id=9), unordered]) == []
    assert await everything(bus) == before


async def test_a_lost_creation_after_the_streams_oldest_record_is_announced(bus: StreamBus) -> None:
    later = datetime.now(UTC) + bus_base.UNKNOWN_MARGIN * 2  # well after the oldest record below
    created = replace(move(1, request_id=7), at=later)
    assert await bus.announce_missing([created]) == []  # an empty stream knows of nothing
    await bus.publish(move(1))
    appended = await bus.announce_missing([created])
    assert [(r.event.type, r.event.update_request_id, r.replaced) for r in appended] == [
        (EventType.CREATED, 7, False)
    ]
    assert await bus.announce_missing([created]) == []  # now known
    assert await bus.stream.last_moves([7, 1, 8]) == {7: 1, 1: 1}


async def test_the_late_original_after_its_announcement_is_dropped(bus: StreamBus) -> None:
    await bus.publish(move(1))
    await bus.publish(move(2))
    await bus.announce_missing([move(3)])
    assert await bus.publish(move(3)) is None  # the writer's retry came after all: stale
    assert [record.event.sequence for record in await everything(bus)] == [1, 2, 3]


async def test_two_processes_announcing_one_lost_move_append_it_once(bus: StreamBus) -> None:
    await bus.publish(move(1))
    await bus.publish(move(2))
    first, second = await asyncio.gather(bus.announce_missing([move(3)]), bus.announce_missing([move(3)]))
    assert len(first) + len(second) == 1
    assert [record.event.sequence for record in await everything(bus)] == [1, 2, 3]


async def test_a_lost_delete_is_announced_once_and_its_late_original_dropped(bus: StreamBus) -> None:
    for sequence in (1, 2, 3, 4, 5):
        await bus.publish(move(sequence))  # ... -> COMPLETED; then deleted, its append lost
    appended = await bus.announce_missing([deleted(5), move(5)])
    assert shown(appended) == [("REMOVED", 5, False)]  # the move was in: only the delete
    assert await bus.stream.known_deletes([1, 2]) == {1}
    assert await bus.announce_missing([deleted(5)]) == []  # looked at again
    assert await bus.publish(deleted(5)) is None  # the writer's retry came after all: stale
    assert shown(await everything(bus))[-2:] == [("STATUS_CHANGED", 5, False), ("REMOVED", 5, False)]


async def test_a_delete_that_went_in_is_not_announced_again(bus: StreamBus) -> None:
    for sequence in (1, 2, 3):
        await bus.publish(move(sequence))
    assert await bus.publish(deleted(3)) is not None
    before = await everything(bus)
    assert await bus.announce_missing([deleted(3)]) == []
    first, second = await asyncio.gather(
        bus.announce_missing([deleted(3)]), bus.announce_missing([deleted(3)])
    )
    assert first == second == [] and await everything(bus) == before


async def test_two_processes_appending_one_delete_put_it_in_once(bus: StreamBus) -> None:
    """Two announcers (or an announcer and the late original) that both found it missing: the
    stream itself takes one REMOVED per delete, even when forced."""
    for sequence in (1, 2, 3):
        await bus.publish(move(sequence))
    first, second = await asyncio.gather(
        bus.stream.append(deleted(3), force=True), bus.stream.append(deleted(3), force=True)
    )
    assert sorted(order.value for order, _ in (first, second)) == ["append", "stale"]
    assert [kind for kind, *_ in shown(await everything(bus))].count("REMOVED") == 1


async def test_a_lost_delete_behind_a_lost_move_goes_in_replaced(bus: StreamBus) -> None:
    for sequence in (1, 2, 3, 4):
        await bus.publish(move(sequence))  # move 5 (COMPLETED) and the delete lost
    appended = await bus.announce_missing([deleted(5)])
    assert shown(appended) == [("REMOVED", 5, True)]  # readers: a SNAPSHOT of the deleted request
    assert await bus.announce_missing([move(5), deleted(5)]) == []  # the stream is past both now


async def test_a_delete_of_a_request_the_stream_forgot_is_announced_when_recent(bus: StreamBus) -> None:
    """A request finished days ago (its order gone with the retention) and deleted now."""
    await bus.publish(move(1, request_id=2))  # the stream's oldest record
    recent = deleted(5, request_id=7, at=datetime.now(UTC) + bus_base.UNKNOWN_MARGIN * 2)
    older = deleted(5, request_id=8)  # before the stream's oldest record: readers resynchronised
    assert shown(await bus.announce_missing([recent, older])) == [("REMOVED", 5, False)]
    assert await bus.stream.known_deletes([7, 8]) == {7}
    assert await bus.announce_missing([recent]) == []


# --------------------------------------------------------------------------- reading and retention


async def test_read_after_retains_and_last_id(bus: StreamBus) -> None:
    ids = [await bus.publish(move(sequence)) for sequence in (1, 2, 3)]
    assert await bus.stream.last_id() == ids[-1]
    assert [r.id for r in await bus.stream.read_after(ids[0] or "", 10)] == ids[1:]
    assert await bus.stream.read_after(ids[-1] or "", 10) == []
    assert await bus.stream.retains(ids[1] or "")
    assert not await bus.stream.retains("1-0")
    assert [r.event.sequence for r in await bus.stream.read_new(ids[0] or "", 1, 0)] == [2]


async def test_follow_waits_for_new_records(bus: StreamBus) -> None:
    start = await bus.stream.last_id() or STREAM_START
    batches = follow(bus.stream, start, block=5)
    first = asyncio.ensure_future(anext(batches))
    await asyncio.sleep(0)
    await bus.publish(move(1))
    batch = await asyncio.wait_for(first, 10)
    assert not isinstance(batch, Gap) and shown(batch) == [("CREATED", 1, False)]
    await batches.aclose()


async def test_memory_retention_keeps_young_records_and_the_newest() -> None:
    young = MemoryStream(retain_entries=3, retain_seconds=3600)
    for sequence in range(1, 6):
        await young.append(move(sequence))
    assert len(young) == 5  # beyond the count, but younger than the time: kept
    old = MemoryStream(retain_entries=3, retain_seconds=-1)  # every record counts as old
    for sequence in range(1, 6):
        await old.append(move(sequence))
    assert [r.event.sequence for r in await old.read_after(STREAM_START, 10)] == [3, 4, 5]


async def test_redis_retention_keeps_young_records_and_the_newest(run_id: str) -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        for retain_seconds, kept in ((3600, [1, 2, 3, 4, 5]), (-1, [3, 4, 5])):
            stream = RedisStream(client, f"{run_id}-{os.urandom(4).hex()}", retain_entries=3,
                                 retain_seconds=retain_seconds)  # fmt: skip
            ids = [(await stream.append(move(sequence)))[1] for sequence in range(1, 6)]
            await stream.trim(ids[-1] or "")
            assert [r.event.sequence for r in await stream.read_after(STREAM_START, 10)] == kept
            assert await stream.retains(ids[0] or "") is (kept[0] == 1)
            await client.delete(stream.key, stream.order_key, stream.order_at_key)
    finally:
        await client.aclose()


async def test_redis_forgets_a_quiet_requests_delete_with_its_order(run_id: str) -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        for retain_seconds, remembered in ((3600, True), (-1, False)):
            stream = RedisStream(client, f"{run_id}-{os.urandom(4).hex()}", retain_seconds=retain_seconds)
            for sequence in range(1, 6):
                await stream.append(move(sequence))
            newest = (await stream.append(deleted(5)))[1] or ""
            await stream.trim(newest)
            assert (await stream.known_deletes([1]) == {1}) is remembered
            assert (await stream.last_moves([1]) == {1: 5}) is remembered
            await client.delete(stream.key, stream.order_key, stream.order_at_key, stream.deleted_key)
    finally:
        await client.aclose()


@pytest.mark.parametrize("protocol", [2, 3], ids=["RESP2", "RESP3"])
async def test_redis_read_new_on_its_held_connection(run_id: str, protocol: int) -> None:
    """`read_new` talks to one held connection directly: it reads either reply protocol, and a
    connection killed under it raises (the reader's `follow` then backs off) and is made anew."""
    client = aioredis.Redis.from_url(REDIS_URL)
    name = f"{run_id}-reader-{protocol}"
    reader = aioredis.Redis.from_url(REDIS_URL, protocol=protocol, max_connections=1, client_name=name)
    stream = RedisStream(client, f"{run_id}-{os.urandom(4).hex()}", reader=reader)
    try:
        first = (await stream.append(move(1)))[1] or ""
        await stream.append(progress(1, 40))
        records = await stream.read_new(first, 10, 0)
        assert [(r.event.type, r.event.sequence) for r in records] == [(EventType.PROGRESS, 1)]
        assert await stream.read_new(records[-1].id, 10, 0.01) == []  # blocked, nothing came
        (held,) = [entry["id"] for entry in await client.client_list() if entry["name"] == name]
        assert await client.client_kill_filter(_id=held) == 1
        with pytest.raises(RedisConnectionError):
            await stream.read_new(first, 10, 0)
        assert [r.id for r in await stream.read_new(first, 10, 0)] == [records[0].id]
    finally:
        await client.delete(stream.key, stream.order_key, stream.order_at_key)
        await reader.aclose()
        await client.aclose()


async def test_redis_append_on_its_held_connection_survives_losing_it(run_id: str) -> None:
    """An append goes to a connection the stream holds; when that one was killed while idle, or
    the server forgot the script, the append still lands once, through the client."""
    name = f"{run_id}-writer"
    client = aioredis.Redis.from_url(REDIS_URL, client_name=name)
    stream = RedisStream(client, f"{run_id}-{os.urandom(4).hex()}")
    try:
        ids = [(await stream.append(move(1)))[1]]  # the script is not loaded yet: NOSCRIPT, loaded
        await client.script_flush()
        ids.append((await stream.append(move(2)))[1])  # and again, once
        idle = [
            e["id"] for e in await client.client_list() if e["name"] == name and e["cmd"] != "client|list"
        ]
        assert idle  # the held connection among them
        for connection_id in idle:
            assert await client.client_kill_filter(_id=connection_id) == 1
        ids.append((await stream.append(move(3)))[1])  # the held one is dead: the client's way
        ids.append((await stream.append(move(4)))[1])  # and held again, on a new connection
        assert [(r.id, r.event.sequence) for r in await stream.read_after(STREAM_START, 10)] == list(
            zip(ids, [1, 2, 3, 4], strict=True)
        )
        alive = [e["id"] for e in await client.client_list() if e["name"] == name]
        assert not set(idle) & set(alive)
    finally:
        await client.delete(stream.key, stream.order_key, stream.order_at_key)
        await client.aclose()


@pytest.mark.parametrize(
    "args",
    [
        ("XREAD", "COUNT", 100, "BLOCK", 5000, "STREAMS", "ns:events:stream", "1796157956415-0"),
        ("EVALSHA", "a" * 40, 4, "k1", "k2", "k3", "k4", 17, "", "1", "0", '{"m":"Caf\u00e9 \u00fc"}', 60),
        ("SET", b"raw\r\nbytes", "x" * 70_000, -5),  # past redis-py's chunking size, CRLF inside
    ],
    ids=["read", "append", "large"],
)
def test_commands_are_packed_as_redis_py_packs_them(args: tuple[str | int | bytes, ...]) -> None:
    from redis.asyncio.connection import Connection

    from infra.bus.redis_stream import packed

    assert packed(*args) == b"".join(Connection().pack_command(*args))


class _Transport:
    def __init__(self, buffered: int) -> None:
        self.buffered = buffered

    def get_write_buffer_size(self) -> int:
        return self.buffered


class _Writer:
    """A stream writer whose socket keeps `buffered` bytes back, and whose drain fails as told,
    or never ends."""

    def __init__(self, error: BaseException | None, buffered: int = 1) -> None:
        self.error = error
        self.written: list[bytes] = []
        self.transport = _Transport(buffered)

    def write(self, data: bytes) -> None:
        self.written.append(data)

    async def drain(self) -> None:
        if self.error is not None:
            raise self.error
        await asyncio.Event().wait()  # a full socket buffer that never empties


class _Connection:
    is_connected = True

    def __init__(
        self, error: BaseException | None, socket_timeout: float | None = None, buffered: int = 1
    ) -> None:
        self._writer = _Writer(error, buffered)
        self.socket_timeout = socket_timeout
        self.disconnects = 0

    async def disconnect(self, nowait: bool = False) -> None:
        self.disconnects += 1


@pytest.mark.parametrize(
    ("error", "raised"),
    [
        (ConnectionResetError("Connection lost"), RedisConnectionError),
        (None, RedisTimeoutError),  # the drain outlasts the socket timeout
        (asyncio.CancelledError(), asyncio.CancelledError),
    ],
    ids=["peer gone", "timeout", "cancelled"],
)
async def test_a_send_that_fails_closes_its_connection_and_says_why_as_redis_py_does(
    error: BaseException | None, raised: type[BaseException]
) -> None:
    """What redis-py's send raises, and the connection closed, so that no later reply is read
    for the wrong command: the append then goes the client's way, the reader backs off."""
    from infra.bus.redis_stream import send_now

    connection = _Connection(error, socket_timeout=0.01)
    with pytest.raises(raised):
        await send_now(cast(Any, connection), b"*1\r\n$4\r\nPING\r\n")
    assert connection._writer.written == [b"*1\r\n$4\r\nPING\r\n"]
    assert connection.disconnects == 1


async def test_a_send_the_socket_took_whole_does_not_wait_for_a_drain() -> None:
    """The common case: the bytes all went to the socket, so no drain (and no timer) is needed."""
    from infra.bus.redis_stream import send_now

    connection = _Connection(None, socket_timeout=None, buffered=0)  # its drain would never end
    await asyncio.wait_for(send_now(cast(Any, connection), b"*1\r\n$4\r\nPING\r\n"), 1.0)
    assert connection._writer.written == [b"*1\r\n$4\r\nPING\r\n"]
    assert connection.disconnects == 0


async def test_a_send_on_a_connection_not_yet_made_connects_it_first(run_id: str) -> None:
    from infra.bus.redis_stream import packed, send_now

    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        connection = await client.connection_pool.get_connection()
        await connection.disconnect()
        await send_now(connection, packed("ECHO", run_id))
        assert await connection.read_response() == run_id.encode()
        await client.connection_pool.release(connection)
    finally:
        await client.aclose()


async def test_the_blocking_read_reads_each_field_of_a_record(run_id: str) -> None:
    """`read_new` reads the append script's records the short way and anything else the general
    way: both give the same record, `replaced` included."""
    client = aioredis.Redis.from_url(REDIS_URL)
    stream = RedisStream(client, f"{run_id}-{os.urandom(4).hex()}")
    try:
        await stream.append(move(1))
        await stream.append(move(3), force=True)  # move 2 never came: in as replaced
        await client.xadd(stream.key, {"r": "1", "e": event_to_json(move(4)), "x": "later field"})
        records = await stream.read_new(STREAM_START, 10, 0)
        assert [(r.event, r.replaced) for r in records] == [
            (move(1), False),
            (move(3), True),
            (move(4), True),
        ]
        assert [r.id for r in records] == [r.id for r in await stream.read_after(STREAM_START, 10)]
    finally:
        await client.delete(stream.key, stream.order_key, stream.order_at_key)
        await client.aclose()


def unordered(percent: int) -> UpdateRequestChanged:
    """A record outside any request's order (no sequence): always appended."""
    return UpdateRequestChanged(
        EventType.PROGRESS, 1, 5, S.IN_PROGRESS, NOW, ProgressReport(percent, "copy", None, NOW)
    )


async def test_redis_append_given_up_before_its_reply_never_answers_the_next(run_id: str) -> None:
    """An append given up while Redis holds it (CLIENT PAUSE) must not leave its reply for the
    next append on the held connection to read as its own. Appends that find the held connection
    busy go through the client: all land, each once."""
    client = aioredis.Redis.from_url(REDIS_URL)
    admin = aioredis.Redis.from_url(REDIS_URL)
    stream = RedisStream(client, f"{run_id}-{os.urandom(4).hex()}")
    try:
        await stream.append(unordered(1))  # the held connection exists and the script is loaded
        await admin.client_pause(5000, all=False)  # scripts wait until unpaused
        try:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(stream.append(unordered(2)), 0.05)
        finally:
            await admin.client_unpause()
        order, own = await stream.append(unordered(3))
        records = await stream.read_after(STREAM_START, 10)
        assert order is Order.APPEND and own == records[-1].id
        assert records[-1].event.progress is not None and records[-1].event.progress.percent == 3
        assert [r.event.progress.percent for r in records if r.event.progress] in ([1, 3], [1, 2, 3])

        results = await asyncio.gather(*(stream.append(unordered(percent)) for percent in range(10, 30)))
        assert all(order is Order.APPEND for order, _ in results)
        landed = await stream.read_after(records[-1].id, 100)
        assert sorted(r.id for r in landed) == sorted(record_id for _, record_id in results if record_id)
        assert sorted(r.event.progress.percent for r in landed if r.event.progress) == list(range(10, 30))
    finally:
        await client.delete(stream.key, stream.order_key, stream.order_at_key)
        await admin.aclose()
        await client.aclose()


# --------------------------------------------------------------------------- cursors


def test_cursors_are_opaque_and_checked() -> None:
    cursor = public_cursor("1796157956415-3")
    assert "1796157956415" not in cursor
    assert record_id_of(cursor) == "1796157956415-3"
    for malformed in ("", "abc", "1796157956415-3", public_cursor("x-1"), "!!!", "e" * 100):
        assert record_id_of(malformed) is None


def test_cursors_keep_their_encoding() -> None:
    """Cursors clients hold stay valid: URL-safe base64 of the versioned id, unpadded (texts that
    are no id included, whose standard base64 has `+` and `/`)."""
    ids = [f"{millis}-{number}" for millis in range(1796157956000, 1796157956050) for number in (0, 7)]
    for text in [*ids, "?>~", "1-???", "~~~~"]:
        expected = base64.urlsafe_b64encode(f"ev1:{text}".encode()).decode().rstrip("=")
        assert public_cursor(text) == expected
    assert any(c in public_cursor("?>~") + public_cursor("~~~~") for c in "-_")
    assert [record_id_of(public_cursor(record_id)) for record_id in ids] == ids


# --------------------------------------------------------------------------- Redis restarts


@pytest.mark.parametrize("persistent", [True, False], ids=["persistent", "volatile"])
async def test_follow_reads_on_after_a_redis_restart(tmp_path: Path, persistent: bool) -> None:
    async with private_redis(tmp_path, persistent=persistent) as redis:
        writer = RedisBus(redis.url, "restart")  # not started: this test reads with its own `follow`
        try:
            await _read_across_a_restart(redis, writer, persistent)
        finally:
            await writer.close()


async def _read_across_a_restart(redis: PrivateRedis, writer: RedisBus, persistent: bool) -> None:
    first = await writer.publish(move(1))
    assert first is not None
    batches = follow(writer.stream, STREAM_START, block=0.2)
    before = await asyncio.wait_for(anext(batches), 10)
    assert not isinstance(before, Gap) and [r.id for r in before] == [first]
    await redis.stop()
    waiting = asyncio.ensure_future(anext(batches))
    await redis.start()
    second = await writer.publish(move(2))
    records: list[str] = []
    gaps = 0
    item = await asyncio.wait_for(waiting, 10)
    while True:
        if isinstance(item, Gap):
            gaps += 1
        else:
            records.extend(r.id for r in item)
        if second in records and gaps:
            break
        item = await asyncio.wait_for(anext(batches), 10)
    # Read on after the last record seen (the first is not read again), with one gap marker.
    assert records == [second]
    assert gaps == 1
    # With persistence the stream kept what it had: a cursor from before resumes exactly.
    assert await writer.stream.retains(first) is persistent
    await batches.aclose()


class CancelBecomesConnectionError:
    """A stream whose waiting read, when cancelled, fails with a Redis connection error instead, as
    redis-py can when a cancel lands mid-read (it disconnects and raises its own error)."""

    def __init__(self) -> None:
        self.reading = asyncio.Event()
        self.reads = 0
        #: Set when the test cleans up: cancels pass as they are (a failed test must not hang).
        self.honest = False

    async def read_after(self, after: str, count: int) -> list[EventRecord]:
        return []

    async def read_new(self, after: str, count: int, block: float) -> list[EventRecord]:
        self.reads += 1
        self.reading.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError as cancelled:
            if self.honest:
                raise
            raise RedisConnectionError("Connection closed by server.") from cancelled
        return []

    async def retains(self, record_id: str) -> bool:
        return True

    async def last_id(self) -> str | None:
        return None

    async def last_generated_id(self) -> str | None:
        return None


async def test_a_cancelled_reader_stops_even_when_the_read_turns_the_cancel_into_an_error() -> None:
    """Closing a bus (or stopping the webhook dispatcher) cancels its reader and waits for it: a
    reader that took the error for an outage and retried would never end, and neither would the
    process's shutdown."""
    stream = CancelBecomesConnectionError()

    async def read_all() -> None:
        async for _ in follow(stream, STREAM_START):
            pass

    reader = asyncio.create_task(read_all())
    try:
        await stream.reading.wait()
        reader.cancel()
        done, _ = await asyncio.wait({reader}, timeout=5)
        assert reader in done, "the reader went on after it was cancelled"
        assert reader.cancelled()
        assert stream.reads == 1
    finally:
        stream.honest = True
        reader.cancel()
        await asyncio.wait({reader})


class DeafStream(CancelBecomesConnectionError):
    """A stream whose waiting read swallows a cancel outright and answers "nothing new"."""

    async def read_new(self, after: str, count: int, block: float) -> list[EventRecord]:
        self.reads += 1
        self.reading.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            if self.honest:
                raise
        return []


async def test_closing_the_bus_gives_up_on_a_reader_that_will_not_stop(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Whatever keeps a reader going after its cancel, closing (a process's shutdown) ends."""
    monkeypatch.setattr(bus_base, "CLOSE_GRACE_SECONDS", 0.2)
    stream = DeafStream()
    deaf = StreamBus(cast(AppendableStream, stream))
    await deaf.start()
    reader = deaf._reader
    assert reader is not None
    try:
        await stream.reading.wait()
        await asyncio.wait_for(deaf.close(), timeout=5)
        assert not reader.done()  # the reader really did not stop: close gave up on it
        assert "did not stop" in caplog.text
    finally:
        stream.honest = True
        reader.cancel()
        await asyncio.wait({reader})


# ---------------------------------------------------------------- the stream replaced under the reader
#
# Redis that loses its data (a restart without persistence, a failover, FLUSHALL or DEL by an
# operator) leaves a new stream under the key. Its ids come from the server's clock: when that is
# behind the one that made the reader's position (a clock moved back, a failover to a server whose
# clock is behind), every new record sorts before the position, and `XREAD ... <position>` would
# return nothing until the clock passes it. The reader must notice and read the new stream from its
# start, with a gap (subscribers get SNAPSHOTs, as after an outage).

#: How far ahead the lost stream's clock was (its records' ids).
AHEAD_MILLIS = 3_600_000


async def set_ids_ahead(client: aioredis.Redis, key: str) -> None:
    """Make the stream's next ids come from a clock an hour ahead (as a lost server's did)."""
    now = int(datetime.now(UTC).timestamp() * 1000)
    await client.execute_command("XSETID", key, f"{now + AHEAD_MILLIS}-0")


async def lose_the_data(client: aioredis.Redis, stream: RedisStream) -> None:
    """What Redis losing its data does to one namespace, while readers keep their connections."""
    await client.delete(stream.key, stream.order_key, stream.order_at_key, stream.deleted_key)


async def items_until(subscription: Any, done: Any, within: float = 10) -> list[UpdateRequestChanged | Gap]:
    """The subscriber's items until `done(items)` holds (fails after `within` seconds)."""
    items: list[UpdateRequestChanged | Gap] = []

    async def collect() -> None:
        while not done(items):
            items.append(await subscription.next_item())

    try:
        await asyncio.wait_for(collect(), within)
    except TimeoutError:
        raise AssertionError(f"only got {items}") from None
    return items


def requests_and_gaps(items: list[UpdateRequestChanged | Gap]) -> list[object]:
    return ["gap" if isinstance(item, Gap) else item.update_request_id for item in items]


@pytest_asyncio.fixture
async def redis_bus(run_id: str) -> AsyncIterator[tuple[RedisBus, aioredis.Redis]]:
    bus = RedisBus(REDIS_URL, f"{run_id}-{os.urandom(4).hex()}", hold_seconds=0.1)
    admin = aioredis.Redis.from_url(REDIS_URL)
    try:
        yield bus, admin
    finally:
        await bus.close()
        await lose_the_data(admin, bus.stream)
        await admin.aclose()


async def test_live_events_flow_on_when_the_new_stream_has_lower_ids(
    redis_bus: tuple[RedisBus, aioredis.Redis],
) -> None:
    bus, admin = redis_bus
    subscription = bus.subscribe()
    await bus.start()
    await bus.publish(move(1))
    await set_ids_ahead(admin, bus.stream.key)
    ahead = await bus.publish(move(2))
    assert ahead is not None and id_key(ahead)[0] > id_key(await _now_id(admin))[0]
    assert requests_and_gaps(await items_until(subscription, lambda items: len(items) == 2)) == [1, 1]
    await lose_the_data(admin, bus.stream)  # the reader keeps its connection: no error
    below = await bus.publish(move(1, request_id=2))
    assert below is not None and id_key(below) < id_key(ahead)  # sorts before the reader's position
    items = await items_until(subscription, lambda items: 2 in requests_and_gaps(items) and "gap" in
                              requests_and_gaps(items))  # fmt: skip
    assert sorted(map(str, requests_and_gaps(items))) == ["2", "gap"]
    assert bus.follow_state.position == below
    await bus.publish(move(2, request_id=2))  # and live from there on
    assert requests_and_gaps(await items_until(subscription, lambda items: len(items) == 1)) == [2]


async def test_a_stream_deleted_under_the_waiting_reader_gives_a_gap(
    redis_bus: tuple[RedisBus, aioredis.Redis],
) -> None:
    """Same clock: nothing is stuck, but the stream the reader followed is gone (records after its
    position may have gone with it): its subscribers resynchronise."""
    bus, admin = redis_bus
    subscription = bus.subscribe()
    await bus.start()
    await bus.publish(move(1))
    assert requests_and_gaps(await items_until(subscription, lambda items: len(items) == 1)) == [1]
    await lose_the_data(admin, bus.stream)
    assert requests_and_gaps(await items_until(subscription, lambda items: len(items) == 1)) == ["gap"]
    await bus.publish(move(1, request_id=2))
    assert requests_and_gaps(await items_until(subscription, lambda items: len(items) == 1)) == [2]


async def test_a_stream_trimmed_to_nothing_under_the_reader_reads_on(
    redis_bus: tuple[RedisBus, aioredis.Redis],
) -> None:
    """XTRIM keeps the stream (and its last id): the reader's position stays valid, no gap."""
    bus, admin = redis_bus
    subscription = bus.subscribe()
    await bus.start()
    first = await bus.publish(move(1))
    assert requests_and_gaps(await items_until(subscription, lambda items: len(items) == 1)) == [1]
    await admin.xtrim(bus.stream.key, maxlen=0, approximate=False)
    assert not await bus.stream.retains(first or "")
    await _idle_checks(bus, 2)  # the reader looked at the stream (twice) and read on
    await bus.publish(move(2))
    assert requests_and_gaps(await items_until(subscription, lambda items: len(items) == 1)) == [1]
    assert len(subscription) == 0  # no gap


async def test_follow_reads_the_new_stream_after_a_restart_with_lower_ids(tmp_path: Path) -> None:
    """Redis restarted empty (no persistence) while the reader waited, its clock behind the lost
    one's: after reconnecting, the reader reads the new stream from its start."""
    async with private_redis(tmp_path, persistent=False) as redis:
        writer = RedisBus(redis.url, "restart")  # not started: this test reads with its own `follow`
        admin = aioredis.Redis.from_url(redis.url)
        try:
            await writer.publish(move(1))
            await set_ids_ahead(admin, writer.stream.key)
            ahead = await writer.publish(move(2))
            assert ahead is not None
            batches = follow(writer.stream, ahead, block=0.2)
            waiting = asyncio.ensure_future(anext(batches))
            await writer.stream.read_new(ahead, 1, 0)  # the reader's connection is made
            await redis.stop()
            await redis.start()
            below = await writer.publish(move(1, request_id=2))
            assert below is not None and id_key(below) < id_key(ahead)
            records: list[str] = []
            gaps = 0
            item = await asyncio.wait_for(waiting, 10)
            while True:
                if isinstance(item, Gap):
                    gaps += 1
                else:
                    records.extend(r.id for r in item)
                if below in records and gaps:
                    break
                item = await asyncio.wait_for(anext(batches), 10)
            assert records == [below] and gaps == 1
            await batches.aclose()
        finally:
            await admin.aclose()
            await writer.close()


async def _now_id(client: aioredis.Redis) -> str:
    seconds, micros = await client.time()
    return f"{seconds * 1000 + micros // 1000}-0"


async def _idle_checks(bus: StreamBus, times: int) -> None:
    seen = bus.follow_state.stream_checks
    await wait_until(lambda: bus.follow_state.stream_checks >= seen + times, "the reader's checks")


@pytest.mark.parametrize(
    ("position", "last_generated", "replaced"),
    [
        ("1700000000000-3", "1700000000000-3", False),  # the reader's position is the newest id
        ("1700000000000-3", "1700000009999-0", False),  # newer ids (read, or trimmed away since)
        ("1700000000000-3", "1699999999999-9", True),  # the ids went back: another stream
        ("1700000000000-3", "1700000000000-2", True),
        ("1700000000000-3", None, True),  # no stream under the key
        (STREAM_START, None, False),  # nothing read yet: any stream is the one to read
        (STREAM_START, "1699999999999-9", False),
    ],
)
def test_a_stream_is_replaced_when_its_ids_went_back_below_the_position(
    position: str, last_generated: str | None, replaced: bool
) -> None:
    assert stream_replaced(position, last_generated) is replaced


async def test_the_memory_stream_knows_its_last_generated_id_through_retention() -> None:
    stream = MemoryStream(retain_entries=1, retain_seconds=-1)
    assert await stream.last_generated_id() is None
    ids = [(await stream.append(move(sequence)))[1] for sequence in (1, 2)]
    assert await stream.last_id() == ids[-1] == await stream.last_generated_id()
    assert not await stream.retains(ids[0] or "")
