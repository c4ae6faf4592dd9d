"""A WebSocket client that can stop reading: a real slow subscriber for the tests of 1013 and of
coalescing (its small receive window fills, and the server's writes back up)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
from typing import Any

from tests.support_live import PROTOCOL, WITHIN, LiveServer, wait_until


def client_frame(text: str, opcode: int = 0x1) -> bytes:
    """A masked client frame (clients must mask)."""
    payload = text.encode()
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    else:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class SilentClient(asyncio.Protocol):
    """A graphql-transport-ws client on a raw socket with a small receive buffer that can stop
    reading: a real slow reader, whose window fills and makes the server's writes back up."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upgraded = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded.done() and b"\r\n\r\n" in self.buffer:
            head, _, rest = bytes(self.buffer).partition(b"\r\n\r\n")
            self.buffer = bytearray(rest)
            self.upgraded.set_result(head)

    def send(self, message: dict[str, Any], opcode: int = 0x1) -> None:
        assert self.transport is not None
        self.transport.write(client_frame(json.dumps(message), opcode))

    def frames(self) -> list[tuple[int, bytes]]:
        """(opcode, payload) of every complete frame received so far (server frames: unmasked)."""
        frames, data, at = [], self.buffer, 0
        while len(data) - at >= 2:
            length, offset = data[at + 1] & 0x7F, 2
            extended = {126: 2, 127: 8}.get(length, 0)
            if len(data) - at < offset + extended:
                break  # the frame's extended length has not all arrived yet
            if extended == 2:
                length, offset = struct.unpack("!H", data[at + 2 : at + 4])[0], 4
            elif extended == 8:
                length, offset = struct.unpack("!Q", data[at + 2 : at + 10])[0], 10
            if len(data) - at < offset + length:
                break
            frames.append((data[at] & 0x0F, bytes(data[at + offset : at + offset + length])))
            at += offset + length
        return frames

    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(payload) for opcode, payload in self.frames() if opcode == 0x1]


async def silent_client(server: LiveServer, token: str, receive_buffer: int = 4096) -> SilentClient:
    """Connected, initialised and acknowledged."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", server.port))
    _, client = await loop.create_connection(SilentClient, sock=sock)
    assert client.transport is not None
    key = base64.b64encode(os.urandom(16)).decode()
    client.transport.write(
        f"GET /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Protocol: {PROTOCOL}\r\n\r\n".encode()
    )
    head = await asyncio.wait_for(client.upgraded, WITHIN)
    assert b" 101 " in head.split(b"\r\n", 1)[0], head
    client.send({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
    await wait_until(lambda: bool(client.messages()), "connection_ack")
    assert client.messages()[0] == {"type": "connection_ack"}
    return client
