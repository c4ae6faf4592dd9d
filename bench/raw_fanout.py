"""The fan-out baseline: the least a Python process can do to hand one stream record to N
WebSocket clients. A bare asyncio server (no ASGI, no GraphQL, no authorization): it upgrades
connections, acknowledges `connection_init`, blocks on XREAD of one Redis stream key and writes
one pre-built text frame per record to every connection.

`python -m bench.raw_fanout PORT REDIS_URL KEY` (run by `bench.fanout` as a child process).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import struct
import sys
from typing import Any

import redis.asyncio as aioredis

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC11B63"
#: A payload the size of the service's event for the same document.
PAYLOAD = json.dumps(
    {"id": "1", "type": "next", "payload": {"data": {"updateRequestEvents": {
        "type": "STATUS_CHANGED", "cursor": "ZXYxOjE3OTYxNTc5NTY0MTUtMA", "toStatus": "PENDING_INPUT",
        "updateRequest": {"id": "VXBkYXRlUmVxdWVzdDoxMjM0", "status": "PENDING_INPUT"}}}}},
    separators=(",", ":"),
)  # fmt: skip


def text_frame(text: str) -> bytes:
    payload = text.encode()
    length = len(payload)
    if length < 126:
        return struct.pack("!BB", 0x81, length) + payload
    if length < 65536:
        return struct.pack("!BBH", 0x81, 126, length) + payload
    return struct.pack("!BBQ", 0x81, 127, length) + payload


class Connection(asyncio.Protocol):
    def __init__(self, clients: set[Connection]) -> None:
        self.clients = clients
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.upgraded = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded:
            head, sep, rest = self.buffer.partition(b"\r\n\r\n")
            if not sep or self.transport is None:
                return
            key = next(line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
                       if line.lower().startswith(b"sec-websocket-key:"))  # fmt: skip
            accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
            self.transport.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Accept: "
                + accept
                + b"\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
            )
            self.upgraded, self.buffer = True, rest
        while len(self.buffer) >= 6:  # client frames: masked, short
            length, offset = self.buffer[1] & 0x7F, 2
            if length == 126:
                length, offset = struct.unpack("!H", self.buffer[2:4])[0], 4
            if len(self.buffer) < offset + 4 + length:
                return
            mask = self.buffer[offset : offset + 4]
            body = bytes(b ^ mask[i % 4] for i, b in enumerate(self.buffer[offset + 4 : offset + 4 + length]))
            self.buffer = self.buffer[offset + 4 + length :]
            if b"connection_init" in body and self.transport is not None:
                self.transport.write(text_frame('{"type":"connection_ack"}'))
                self.clients.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.clients.discard(self)


async def main(port: int, redis_url: str, key: str) -> None:
    clients: set[Connection] = set()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Connection(clients), "127.0.0.1", port, backlog=4096)
    client = aioredis.Redis.from_url(redis_url, socket_timeout=10)
    # From the start of the (per-run, empty) key, not "$": the port is open before the first XREAD
    # reaches Redis, and a first XADD sent in between was missed (the warm-up then timed out).
    last = "0-0"
    async with server:
        while True:
            answer: Any = await client.xread({key: last}, block=5000, count=100)
            for _, entries in answer or []:
                for entry_id, _fields in entries:
                    last = entry_id.decode()
                    frame = text_frame(PAYLOAD)
                    for connection in list(clients):
                        if connection.transport is not None:
                            connection.transport.write(frame)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
