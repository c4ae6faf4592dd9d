"""A socket's outbox: frames go out at once while the socket takes them; while it makes the writer
wait they queue, a newer PROGRESS of one request replaces the queued one, and a socket that would
queue more than its limit is closed with 1013 instead of losing a status change. A catch-up waits
for the socket rather than counting against the limit."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from starlette.websockets import WebSocket
from websockets.frames import Frame, Opcode
from websockets.protocol import CLIENT, Protocol

from resolvers.live.outbox import CLOSE_TOO_SLOW, SEND_FRAME_EXTENSION, Outbox, text_frame


class FakeSocket:
    """Takes frames at once, or (`hold()`) makes every send wait until `release()`."""

    def __init__(self) -> None:
        self.scope: dict[str, Any] = {"extensions": {}}
        self.sent: list[str] = []
        self.closed: tuple[int, str] | None = None
        self.open = asyncio.Event()
        self.open.set()

    def hold(self) -> None:
        self.open.clear()

    def release(self) -> None:
        self.open.set()

    async def send_text(self, text: str) -> None:
        await self.open.wait()
        self.sent.append(text)

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


def outbox(socket: FakeSocket, limit: int) -> Outbox:
    return Outbox(cast(WebSocket, socket), limit)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_frames_go_out_at_once_while_the_socket_takes_them() -> None:
    socket = FakeSocket()
    box = outbox(socket, 2)
    for number in range(10):
        assert box.push(f"frame {number}")
    assert socket.sent == [f"frame {number}" for number in range(10)]  # no task, no waiting
    assert len(box) == 0


async def test_queued_progress_is_replaced_and_status_changes_kept() -> None:
    socket = FakeSocket()
    box = outbox(socket, 3)
    socket.hold()
    box.push("first")  # in flight: the writer waits on it
    for percent in (10, 20, 30):
        box.push(f"progress {percent}", ("op", 7), progress=True)
    box.push("status", ("op", 7))
    box.push("progress 40", ("op", 7), progress=True)  # after a status change: not merged into it
    assert len(box) == 3 and box.coalesced == 2
    socket.release()
    await settle()
    assert socket.sent == ["first", "progress 30", "status", "progress 40"]


async def test_a_socket_that_falls_too_far_behind_is_closed_1013() -> None:
    socket = FakeSocket()
    box = outbox(socket, 2)
    socket.hold()
    assert box.push("in flight")
    assert box.push("status 1", ("op", 1)) and box.push("status 2", ("op", 2))
    assert not box.push("status 3", ("op", 3))  # never dropped silently: the socket is closed
    await settle()
    assert box.closed and socket.closed is not None
    code, reason = socket.closed
    assert code == CLOSE_TOO_SLOW == 1013 and reason.startswith("Too slow")
    assert not box.push("later")


async def test_a_catch_up_waits_for_the_socket_instead_of_closing_it() -> None:
    socket = FakeSocket()
    box = outbox(socket, 4)
    socket.hold()
    catching_up = asyncio.ensure_future(box.push_paced([f"missed {n}" for n in range(50)]))
    await settle()
    assert not catching_up.done() and len(box) <= 2  # waits at half the limit
    socket.release()
    await asyncio.wait_for(catching_up, 5)
    await settle()
    assert socket.sent == [f"missed {n}" for n in range(50)] and not box.closed


async def test_a_socket_that_went_away_takes_nothing_more() -> None:
    class Gone(FakeSocket):
        async def send_text(self, text: str) -> None:
            raise RuntimeError("closed")

    socket: Any = Gone()
    box = outbox(socket, 2)
    assert box.push("x") is True  # accepted, then found gone
    assert box.closed and not box.push("y")


class InPlaceSocket(FakeSocket):
    """Also offers the server's in-place frame write, which takes frames while `taking`."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        #: Every text as it went out, either way.
        self.log: list[str] = []
        self.taking = True
        self.scope["extensions"][SEND_FRAME_EXTENSION] = self.send_frame_now

    def send_frame_now(self, frame: bytes) -> bool:
        if self.taking:
            self.written.append(frame)
            self.log.append(text_of(frame))
        return self.taking

    async def send_text(self, text: str) -> None:
        await super().send_text(text)
        self.log.append(text)


def text_of(frame: bytes) -> str:
    """What a client reads from a server's frame."""
    reader = Protocol(CLIENT)  # an open connection's client side: reads unmasked frames
    reader.receive_data(frame)
    (event,) = reader.events_received()
    assert isinstance(event, Frame) and event.opcode is Opcode.TEXT
    return bytes(event.data).decode()


async def test_frames_are_written_in_place_when_the_server_offers_it() -> None:
    socket = InPlaceSocket()
    texts = ["frame 0", "frame 0", "x" * 125, "y" * 126, "é" * 1000, "é" * 70_000]  # 7, 16, 64-bit lengths
    box = outbox(socket, len(texts))
    for text in texts:
        assert box.push(text)
    assert [text_of(frame) for frame in socket.written] == texts
    assert socket.sent == [] and len(box) == 0
    assert text_frame("frame 0") is text_frame("frame 0")  # one build for a group's sockets


async def test_a_refused_frame_goes_the_asgi_way_in_order() -> None:
    socket = InPlaceSocket()
    box = outbox(socket, 3)
    box.push("first")
    socket.taking = False  # closing, or its writer must wait: the server refuses
    socket.hold()
    box.push("second")
    socket.taking = True
    box.push("third")  # queued behind "second": never written past it
    assert len(box) == 1 and [text_of(frame) for frame in socket.written] == ["first"]
    socket.release()
    await settle()
    assert socket.sent == ["second"] and socket.log == ["first", "second", "third"] and len(box) == 0
