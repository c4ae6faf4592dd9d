"""The event stream in Redis: one Stream per deployment namespace (``{namespace}:events:stream``).

Writes go through one script that appends a record only in its request's history order (see
`infra.bus.ordering`; ``{namespace}:events:order`` keeps the last sequence per request,
``{namespace}:events:deleted`` the requests whose delete it took (one REMOVED each), and
``{namespace}:events:order-at`` when either was written, so that quiet requests are forgotten
with the retention). `trim` keeps what `infra.bus.stream` promises: every record younger than the
retention time, and at least the newest `retain_entries`.

The blocking read (`read_new`) runs on a client of its own whose socket timeout outlasts the
block, so a quiet stream never looks like a dead connection and a dead one is noticed. It holds
one connection of that client and talks to it directly: every event waits for this read, and the
client's per-command machinery (pool checkout and release, retry wrapper, reply callbacks) cost
about as much as the read itself (BENCHMARKS.md, event latency). Its replies are read by
`infra.bus.redis_replies.ReplyReader`, straight from the transport.

An append, too, first goes straight to a connection the stream holds (every event waits for it
after its commit). Only when that connection is busy with another append, or fails (lost,
timed out, the script gone from the server), does it go through the client, whose retries,
reconnects and script loading then decide, exactly as before.

Both commands are packed here (`packed`) and written at once (the append by `send_now`), not by
redis-py's general packer and timed send, which cost ~20 us of the ~35 us between an event's
commit and its append's bytes leaving (BENCHMARKS.md, round 7).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from infra.bus.ordering import Order
from infra.bus.records import EventRecord, id_key, next_id
from infra.bus.redis_replies import ReplyReader
from infra.bus.stream import RETAIN_ENTRIES, RETAIN_SECONDS
from infra.bus.wire import event_from_json, event_to_json
from models.events import UpdateRequestChanged
from models.running import DISPATCH_WAKES

#: Records (and forgotten requests) removed by one trim at most; the next trim goes on.
TRIM_BATCH = 10_000

APPEND_SCRIPT = """
local replaced = '0'
local sequence = ARGV[2]
local is_move = ARGV[3] == '1'
local is_delete = ARGV[8] == '1'
if is_delete and redis.call('HEXISTS', KEYS[5], ARGV[1]) == 1 then return {'stale'} end
if sequence ~= '' then
  local last = redis.call('HGET', KEYS[2], ARGV[1])
  if last then
    last = tonumber(last)
    local number = tonumber(sequence)
    local in_order
    if is_move then
      if number <= last then return {'stale'} end
      in_order = number == last + 1
    else
      if number < last then return {'stale'} end
      in_order = number == last
    end
    if not in_order then
      if ARGV[4] ~= '1' then return {'wait'} end
      replaced = '1'
    end
  end
end
local id = redis.call('XADD', KEYS[1], '*', 'e', ARGV[5], 'r', replaced)
if sequence ~= '' and (is_move or replaced == '1') then
  redis.call('HSET', KEYS[2], ARGV[1], sequence)
  redis.call('ZADD', KEYS[3], string.match(id, '^(%d+)'), ARGV[1])
end
if is_delete then
  redis.call('HSET', KEYS[5], ARGV[1], '1')
  redis.call('ZADD', KEYS[3], string.match(id, '^(%d+)'), ARGV[1])
end
if ARGV[6] == '1' then
  redis.call('RPUSH', KEYS[4], '1')
  redis.call('LTRIM', KEYS[4], -1, -1)
  redis.call('PEXPIRE', KEYS[4], ARGV[7])
end
return {'append', id}
"""
#: Milliseconds a dispatch wake token outlives its append when no scheduler takes it.
WAKE_TOKEN_TTL_MS = 60_000


def dispatch_wake_key(namespace: str, signal: str) -> str:
    """The list a scheduler blocks on for `signal` (`models.running.DISPATCH_WAKES`): the append
    of a record that signals it pushes one token (at most one waits), in the same script."""
    return f"{namespace}:dispatch:wake:{signal}"


def packed(*args: str | int | bytes) -> bytes:
    """A command as RESP, as redis-py's `pack_command` packs these argument types. Every event's
    append and read is packed here: the general packer (an encoder call per argument, chunking
    for large values) took ~12 us of the append's ~35 us before its bytes were sent."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else (arg if isinstance(arg, str) else str(arg)).encode()
        parts.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(parts)


async def send_now(connection: AbstractConnection, command: bytes) -> None:
    """Write `command` on `connection` at once. redis-py's send wraps its write in `wait_for`,
    which on Python 3.11 starts a task, so the bytes left a loop turn later (~12 us an append).
    Any failure leaves the connection closed, as redis-py's own send does."""
    writer = getattr(connection, "_writer", None)
    if writer is None or not connection.is_connected:  # not connected yet (or another redis-py)
        await connection.send_packed_command(command, check_health=False)
        return
    try:
        writer.write(command)
        if not writer.transport.get_write_buffer_size():
            # All of it went to the socket: nothing to wait for (the timer a timeout arms and
            # disarms was a tenth of this read's Python work). A connection lost meanwhile shows
            # in the reply's read, which closes it the same way.
            return
        async with asyncio.timeout(connection.socket_timeout):  # only a full socket buffer waits
            await writer.drain()
    except TimeoutError:
        await connection.disconnect(nowait=True)
        raise RedisTimeoutError("Timeout writing to socket") from None
    except OSError as error:  # the peer is gone: what redis-py's send raises then
        await connection.disconnect(nowait=True)
        raise RedisConnectionError(f"Error while writing to socket: {error}") from error
    except BaseException:
        await connection.disconnect(nowait=True)
        raise


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _record(record_id: Any, fields: Any) -> EventRecord:
    """A record from its id and its fields: (field, value) pairs, as redis-py's parsed dict gives
    them (`.items()`) or as a reply's flat list pairs them up."""
    values = {_text(key): value for key, value in fields}
    return EventRecord(_text(record_id), event_from_json(values["e"]), _text(values.get("r", "0")) == "1")


def _read_record(record_id: Any, flat: list[Any]) -> EventRecord:
    """A record from a reply's entry: its id and its flat [field, value, ...] list. The append
    script writes exactly ``e <event> r <0|1>``; anything else is read the general way."""
    if len(flat) == 4 and flat[0] == b"e" and flat[2] == b"r":
        return EventRecord(record_id.decode(), event_from_json(flat[1]), flat[3] == b"1")
    return _record(record_id, zip(flat[::2], flat[1::2], strict=True))


def _entries(answer: Any) -> list[Any]:
    """The entries of an XREAD reply for one stream, as the server sent them (RESP2: a list of
    [stream, entries]; RESP3: a map), each [id, [field, value, ...]]."""
    if not answer:
        return []
    streams = list(answer.values()) if isinstance(answer, dict) else [entries for _, entries in answer]
    return streams[0] if streams else []


class RedisStream:
    def __init__(
        self,
        client: aioredis.Redis,
        namespace: str,
        *,
        reader: aioredis.Redis | None = None,
        retain_entries: int = RETAIN_ENTRIES,
        retain_seconds: float = RETAIN_SECONDS,
    ) -> None:
        self.namespace = namespace
        self.key = f"{namespace}:events:stream"
        self.order_key = f"{namespace}:events:order"
        self.order_at_key = f"{namespace}:events:order-at"
        #: Requests whose delete's REMOVED the stream took (forgotten with their order).
        self.deleted_key = f"{namespace}:events:deleted"
        self.retain_entries = retain_entries
        self.retain_seconds = retain_seconds
        self._client = client
        self._reader = reader or client
        #: The connection `read_new` holds (from the reader's pool; closed with the client), and
        #: what reads its replies.
        self._read_connection: AbstractConnection | None = None
        self._replies: ReplyReader | None = None
        self._read_lock = asyncio.Lock()
        self._append = client.register_script(APPEND_SCRIPT)
        #: The connection appends try first (from the client's pool; closed with the client).
        self._append_connection: AbstractConnection | None = None
        self._append_lock = asyncio.Lock()

    async def append(self, event: UpdateRequestChanged, force: bool = False) -> tuple[Order, str | None]:
        sequence = "" if event.sequence is None else str(event.sequence)
        # A move that may let a dispatch start wakes the schedulers in the same round trip: they
        # block on a short list rather than reading every record of the stream.
        wake = DISPATCH_WAKES.get(event.status)
        wake_key = dispatch_wake_key(self.namespace, wake or "none")
        keys = [self.key, self.order_key, self.order_at_key, wake_key, self.deleted_key]
        args: list[str | int] = [
            event.update_request_id, sequence, "1" if event.is_move else "0", "1" if force else "0",
            event_to_json(event), "1" if wake else "0", WAKE_TOKEN_TTL_MS,
            "1" if event.is_delete and event.sequence is not None else "0",  # one REMOVED per delete
        ]  # fmt: skip
        answer = None
        if not self._append_lock.locked():
            # On failure, the client's way below: it reconnects, retries and loads the script.
            with contextlib.suppress(RedisConnectionError, RedisTimeoutError, NoScriptError, OSError):
                answer = await self._append_held(keys, args)
        if answer is None:
            answer = await self._append(keys=keys, args=args)
        order = Order(_text(answer[0]))
        return order, _text(answer[1]) if order is Order.APPEND else None

    async def _append_held(self, keys: list[str], args: list[str | int]) -> Any:
        """The append script on the held connection. A lost connection, a timeout or a cancel
        between command and reply leaves it closed (redis-py closes it, so no reply is ever read
        for the wrong command) and the next append connects it again; a NOSCRIPT reply leaves it
        open."""
        async with self._append_lock:
            if self._append_connection is None:
                self._append_connection = await self._client.connection_pool.get_connection()
            connection = self._append_connection
            await send_now(connection, packed("EVALSHA", self._append.sha, len(keys), *keys, *args))
            return await connection.read_response()

    async def last_moves(self, request_ids: Collection[int]) -> dict[int, int]:
        ids = list(request_ids)
        if not ids:
            return {}
        values: list[Any] = await self._client.hmget(self.order_key, [str(request_id) for request_id in ids])
        return {
            request_id: int(value) for request_id, value in zip(ids, values, strict=True) if value is not None
        }

    async def known_deletes(self, request_ids: Collection[int]) -> set[int]:
        ids = list(request_ids)
        if not ids:
            return set()
        values: list[Any] = await self._client.hmget(self.deleted_key, [str(request) for request in ids])
        return {request for request, value in zip(ids, values, strict=True) if value is not None}

    async def read_after(self, after: str, count: int) -> list[EventRecord]:
        entries: Any = await self._client.xrange(self.key, f"({after}", "+", count=count)
        return [_record(record_id, fields.items()) for record_id, fields in entries]

    async def read_new(self, after: str, count: int, block: float) -> list[EventRecord]:
        """`block` ≤ 0: no waiting. A lost connection raises (redis-py's ConnectionError or
        TimeoutError, after closing it); the next read connects again."""
        command: list[Any] = ["XREAD", "COUNT", count]
        if block > 0:
            command += ["BLOCK", int(block * 1000)]
        command += ["STREAMS", self.key, after]
        async with self._read_lock:  # one command at a time on the held connection
            replies = self._replies
            # A connection lost since the last read is still "connected" to redis-py: its command
            # raises (so `follow` notices the loss), and closes it; the next read connects again.
            if replies is None or not replies.connection.is_connected:
                replies = self._replies = await self._take_read_connection()
            answer = await replies.command(packed(*command), replies.connection.socket_timeout)
        return [_read_record(record_id, flat) for record_id, flat in _entries(answer)]

    async def _take_read_connection(self) -> ReplyReader:
        """The held connection (from the reader's pool), connected and greeted by redis-py, its
        replies read from now on by a `ReplyReader`."""
        if self._read_connection is None:
            self._read_connection = await self._reader.connection_pool.get_connection()
        connection = self._read_connection
        if not connection.is_connected:
            await connection.connect()
        return ReplyReader.take_over(connection)

    async def retains(self, record_id: str) -> bool:
        return bool(await self._client.xrange(self.key, record_id, record_id, count=1))

    async def last_id(self) -> str | None:
        entries: Any = await self._client.xrevrange(self.key, "+", "-", count=1)
        return _text(entries[0][0]) if entries else None

    async def last_generated_id(self) -> str | None:
        """XINFO STREAM's ``last-generated-id`` (kept by the stream through trims and deletes of
        its records, lost with the key). Asked only by an idle or reconnecting reader."""
        try:
            info: Any = await self._client.xinfo_stream(self.key)
        except ResponseError as error:
            if "no such key" in str(error).lower():
                return None
            raise
        return _text(info["last-generated-id"])

    async def trim(self, newest_id: str) -> int:
        """Drop records both older than the retention time and beyond the newest
        `retain_entries`, and forget the order of requests quiet for as long. Records dropped."""
        cutoff = id_key(newest_id)[0] - int(self.retain_seconds * 1000)
        quiet = await self._client.zrangebyscore(
            self.order_at_key, "-inf", f"({cutoff}", start=0, num=TRIM_BATCH
        )
        if quiet:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.hdel(self.order_key, *quiet)
                pipe.hdel(self.deleted_key, *quiet)
                pipe.zrem(self.order_at_key, *quiet)
                await pipe.execute()
        excess = await self._client.xlen(self.key) - self.retain_entries
        if excess <= 0:
            return 0
        old: Any = await self._client.xrange(self.key, "-", f"({cutoff}-0", count=min(excess, TRIM_BATCH))
        if not old:
            return 0
        removed: int = await self._client.xtrim(self.key, minid=next_id(_text(old[-1][0])), approximate=False)
        return removed
