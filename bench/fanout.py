"""Measurement 4: N WebSocket subscribers on ONE API process (`updatedesk serve`, a separate OS
process), one event to all: p99 delivery and resident memory per connection; against the same
N connections on the raw asyncio fan-out of `bench.raw_fanout` (one pre-built frame per record
written to every socket), measured in the same run.

The clients are minimal graphql-transport-ws connections on raw asyncio protocols (handshake,
masked text frames out, frame headers in, pongs): a received frame costs the bench a timestamp,
so the client side adds as little as possible to the measured delay.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import redis.asyncio as aioredis

from bench.common import BenchEnv, Row, ms, percentile, ratio, read_rss_kib
from infra.bus import RedisBus, install_bus_sink
from models.access import actor_for_account
from models.enums import Role, UpdateStatus
from models.requests.staff import set_update_request_status
from tests.factories import make_account, make_catalog, make_district, make_request, make_token
from tests.support_live import free_port

#: Sockets the bench's server allows beyond the subscribers it measures.
WS_CAP_MARGIN = 10
SUBSCRIPTION = "subscription { updateRequestEvents { type cursor toStatus updateRequest { id status } } }"
TARGET_P99_SECONDS = 0.250
TARGET_KIB_PER_CONNECTION = 30.0
CONNECT_CONCURRENCY = 64
WITHIN = 120.0


def _frame(text: str) -> bytes:
    """A masked text frame (clients must mask)."""
    payload = text.encode()
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x81, 0x80 | length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x81, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x81, 0x80 | 127, length)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + masked


def _control(opcode: int, payload: bytes) -> bytes:
    mask = os.urandom(4)
    return (
        struct.pack("!BB", 0x80 | opcode, 0x80 | len(payload))
        + mask
        + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    )


class RawSubscriber(asyncio.Protocol):
    """One graphql-transport-ws connection that subscribes and timestamps each text frame."""

    def __init__(self, host: str, port: int, token: str, *, keep_texts: bool = False) -> None:
        self.request = (
            f"GET /graphql HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
        ).encode()
        self.token = token
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.upgraded = False
        self.acked = asyncio.get_running_loop().create_future()
        self.closed = False
        self.received: list[float] = []
        #: The text frames after the ack, when kept (`keep_texts`), beside their times.
        self.texts: list[bytes] | None = [] if keep_texts else None
        self.arrived = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.buffer += data
        if not self.upgraded:
            head, sep, rest = self.buffer.partition(b"\r\n\r\n")
            if not sep:
                return
            if b" 101 " not in head.split(b"\r\n", 1)[0]:
                self._fail(f"no upgrade: {head[:80]!r}")
                return
            self.upgraded = True
            self.buffer = rest
            self.send(
                json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {self.token}"}})
            )
        self._frames(now)

    def _frames(self, now: float) -> None:
        while len(self.buffer) >= 2:
            first, second = self.buffer[0], self.buffer[1]
            length, offset = second & 0x7F, 2
            if length == 126:
                if len(self.buffer) < 4:
                    return
                length, offset = struct.unpack("!H", self.buffer[2:4])[0], 4
            elif length == 127:
                if len(self.buffer) < 10:
                    return
                length, offset = struct.unpack("!Q", self.buffer[2:10])[0], 10
            if len(self.buffer) < offset + length:
                return
            payload, self.buffer = self.buffer[offset : offset + length], self.buffer[offset + length :]
            opcode = first & 0x0F
            if opcode == 0x9 and self.transport is not None:  # ping
                self.transport.write(_control(0xA, payload))
            elif opcode == 0x8:
                self.closed = True
                if not self.acked.done():
                    self._fail(f"closed: {payload[2:]!r}")
            elif opcode == 0x1:
                if not self.acked.done():
                    if b"connection_ack" in payload:
                        self.acked.set_result(None)
                    else:
                        self._fail(f"expected connection_ack, got {payload[:80]!r}")
                else:
                    self.received.append(now)
                    if self.texts is not None:
                        self.texts.append(payload)
                    self.arrived.set()

    def _fail(self, reason: str) -> None:
        if not self.acked.done():
            self.acked.set_exception(RuntimeError(reason))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(f"connection lost: {exc}")

    def send(self, text: str) -> None:
        if self.transport is not None:
            self.transport.write(_frame(text))

    def subscribe(self, query: str = SUBSCRIPTION, variables: dict[str, object] | None = None) -> None:
        payload = {"query": query, "variables": variables or {}}
        self.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()


async def _connect(
    host: str,
    port: int,
    token: str,
    limit: asyncio.Semaphore,
    *,
    subscribe: bool = True,
    keep_texts: bool = False,
) -> RawSubscriber:
    async with limit:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(
            lambda: RawSubscriber(host, port, token, keep_texts=keep_texts), host, port
        )
        await asyncio.wait_for(protocol.acked, WITHIN)
        if subscribe:
            protocol.subscribe()
        return protocol


async def _wait_all(clients: list[RawSubscriber], count: int, within: float) -> None:
    deadline = time.monotonic() + within
    while any(len(c.received) < count for c in clients):
        if time.monotonic() > deadline:
            missing = sum(1 for c in clients if len(c.received) < count)
            raise RuntimeError(f"{missing} of {len(clients)} subscribers got no event within {within:.0f} s")
        await asyncio.sleep(0.01)


async def _wait_more(clients: list[RawSubscriber], seen: list[int], within: float) -> None:
    deadline = time.monotonic() + within
    while any(len(c.received) <= n for c, n in zip(clients, seen, strict=True)):
        if time.monotonic() > deadline:
            raise RuntimeError(f"not every subscriber got the measured event within {within:.0f} s")
        await asyncio.sleep(0.01)


async def _wait_ready(port: int, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /readyz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            answer = await reader.read()
            writer.close()
            if b" 200 " in answer.split(b"\r\n", 1)[0]:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the API process did not become ready")
        await asyncio.sleep(0.1)


async def _wait_listening(port: int, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("the raw fan-out server did not start") from None
            await asyncio.sleep(0.1)


async def _connect_all(port: int, token: str, subscribers: int) -> list[RawSubscriber]:
    limit = asyncio.Semaphore(CONNECT_CONCURRENCY)
    started = time.monotonic()
    clients = list(
        await asyncio.gather(*(_connect("127.0.0.1", port, token, limit) for _ in range(subscribers)))
    )
    print(f"bench: {subscribers} connected in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return clients


async def _deliver(clients: list[RawSubscriber], trigger: Callable[[int], Awaitable[None]]) -> list[float]:
    """Warm up until every client has received an event (they all listen), wait past the access
    re-check interval (1 s: each subscriber re-checks its token as it would live), then the
    measured event: each client's delay from just before the trigger."""
    flips = 0
    deadline = time.monotonic() + WITHIN
    while True:
        await trigger(flips)
        flips += 1
        try:
            await _wait_all(clients, 1, 5.0)
            break
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
    await asyncio.sleep(1.2)
    seen = [len(c.received) for c in clients]
    started = time.perf_counter()
    await trigger(flips)
    await _wait_more(clients, seen, WITHIN)
    return [c.received[n] - started for c, n in zip(clients, seen, strict=True)]


@dataclass
class Fanout:
    delays: list[float]
    kib_per_connection: float
    held: int


async def service_fanout(
    env: BenchEnv, subscribers: int, token: str, request_id: int, staff_id: int, moves: list[int]
) -> Fanout:
    """`updatedesk serve`, `subscribers` connections; the event is a committed status move
    (`moves` counts them across runs, so each is a real move)."""
    port = free_port()
    # Every bench socket comes from one address and one staff account, which the per-address and
    # per-account caps (100 and 20 by default) exist to stop: raised for this server, so that it
    # holds `subscribers` screens as many people's browsers would open them.
    room = str(subscribers + WS_CAP_MARGIN)
    caps = {"UPDATEDESK_WS_MAX_SOCKETS_PER_ACCOUNT": room, "UPDATEDESK_WS_MAX_SOCKETS_PER_ADDRESS": room}
    server = env.start("serve", "serve", "--port", str(port), **caps)
    clients: list[RawSubscriber] = []
    bus = RedisBus(env.redis_url, env.namespace)
    uninstall = install_bus_sink(bus)
    staff = actor_for_account(staff_id, Role.HOSTING_STAFF, frozenset())
    statuses = [UpdateStatus.PENDING_INPUT, UpdateStatus.TO_BE_SCHEDULED]

    async def flip(index: int) -> None:
        moves[0] += 1
        await set_update_request_status(staff, request_id, statuses[moves[0] % 2], "bench")

    try:
        await _wait_ready(port)
        rss_before = read_rss_kib(server.pid)
        clients = await _connect_all(port, token, subscribers)
        delays = await _deliver(clients, flip)
        rss_after = read_rss_kib(server.pid)
        held = sum(1 for c in clients if not c.closed)
    finally:
        for client in clients:
            client.close()
        uninstall()
        await bus.close()
        env.stop(server)
    return Fanout(delays, (rss_after - rss_before) / subscribers, held)


async def raw_fanout(env: BenchEnv, subscribers: int) -> Fanout:
    """The same connections on the raw fan-out server; the event is an XADD."""
    port = free_port()
    key = f"{env.namespace}:bench-raw-fanout"
    server = env.start_module("raw-fanout", "bench.raw_fanout", str(port), env.redis_url, key)
    client = aioredis.Redis.from_url(env.redis_url)
    clients: list[RawSubscriber] = []

    async def add(index: int) -> None:
        await client.xadd(key, {"n": index})

    try:
        await _wait_listening(port)
        rss_before = read_rss_kib(server.pid)
        clients = await _connect_all(port, "raw", subscribers)
        delays = await _deliver(clients, add)
        rss_after = read_rss_kib(server.pid)
        held = sum(1 for c in clients if not c.closed)
    finally:
        for connection in clients:
            connection.close()
        await client.aclose()
        env.stop(server)
    return Fanout(delays, (rss_after - rss_before) / subscribers, held)


async def measure_fanout(env: BenchEnv) -> list[Row]:
    sizes = (200, 1000) if env.options.quick else (1000, 5000, 10_000)
    await make_catalog()
    district = await make_district()
    staff = await make_account(Role.HOSTING_STAFF, email="staff@bench.example")
    token = await make_token(staff)
    request = await make_request(district, requested_by=staff)
    rows = []
    moves = [1]
    for size in sizes:
        service = await service_fanout(env, size, token, request.id, staff.id, moves)
        raw = await raw_fanout(env, size)
        p99, raw99 = percentile(service.delays, 99), percentile(raw.delays, 99)
        target_p99 = TARGET_P99_SECONDS if size <= 5000 else None
        ok = service.held == size and service.kib_per_connection <= TARGET_KIB_PER_CONNECTION
        if target_p99 is not None:
            ok = ok and p99 <= target_p99
        rows.append(
            Row(
                f"fan-out {size} subscribers, one event: p99 / p50 / RSS per connection",
                f"{ms(p99)} / {ms(percentile(service.delays, 50))} / {service.kib_per_connection:.1f} KiB",
                f"{ms(raw99)} / {ms(percentile(raw.delays, 50))} / {raw.kib_per_connection:.1f} KiB (raw)",
                ratio(p99, raw99),
                f"{service.held} of {size} held"
                + (f", <= {target_p99 * 1000:.0f} ms" if target_p99 else "")
                + f", <= {TARGET_KIB_PER_CONNECTION:.0f} KiB",
                ok,
            )
        )
    return rows
