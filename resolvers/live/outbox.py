"""What one WebSocket has yet to send: a bounded queue of ready frames, sent in order: in place
while the socket takes them (`eager`), by a writer task only while the socket makes it wait.

Frames are text already rendered (the same payload text for every socket of a render group).
Where the server offers it (`SEND_FRAME_EXTENSION` in the ASGI scope: the API server's lean
protocol, `updatedesk.ws_protocol`), a frame that can go at once is written in place as ready
WebSocket bytes, built once for every socket that sends the same text (`text_frame`); otherwise,
and whenever the socket must wait, it goes the ASGI way.

A PROGRESS frame replaces the queued, unsent PROGRESS frame of the same operation and request
(the request row keeps the latest progress anyway). A socket whose queue would grow past `limit`
is closed with 1013 rather than lose a status change; the client reconnects and resumes from its
last cursor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Callable

from starlette.websockets import WebSocket

from resolvers.live import eager

logger = logging.getLogger("updatedesk.subscriptions")

#: 1013 "Try Again Later": graphql-ws clients reconnect (and resume with `after`).
CLOSE_TRY_AGAIN = 1013
CLOSE_TOO_SLOW = CLOSE_TRY_AGAIN
REASON_TOO_SLOW = (
    "Too slow: events came faster than this connection read them. Resubscribe with `after`: last cursor."
)
#: Events could not be delivered (the database did not answer while they were prepared).
REASON_UNDELIVERED = "Events could not be delivered just now. Resubscribe with `after`: last cursor."
#: More requests changed than a resynchronisation resends (the newest were sent): reload.
REASON_INCOMPLETE = "More changed than was resent: reload, then resubscribe with `after`: last cursor."
#: A WebSocket close reason may hold at most this many bytes (RFC 6455).
CLOSE_REASON_BYTES = 123


def close_reason(text: str) -> str:
    """`text` cut to what a close frame can carry."""
    encoded = text.encode()
    if len(encoded) <= CLOSE_REASON_BYTES:
        return text
    return encoded[: CLOSE_REASON_BYTES - 3].decode(errors="ignore") + "..."


#: An ASGI scope extension of a server that can write a ready text frame in place: a callable
#: that takes the frame's bytes and says whether it wrote them (False: nothing was written,
#: send the ASGI way). One event to 10,000 sockets then costs one frame build, not 10,000.
SEND_FRAME_EXTENSION = "updatedesk.websocket.send_frame"
SendFrame = Callable[[bytes], bool]

#: A frame's coalescing key: (operation id, request id).
FrameKey = tuple[str, int]

_last_frame: tuple[str, bytes] = ("", b"")
#: A frame's first byte: the last fragment (FIN), opcode text.
_FIN_TEXT = 0x81


def text_frame(text: str) -> bytes:
    """A server's WebSocket text frame carrying `text` (unmasked, one fragment, no extension);
    the last one is kept, as the sockets of a render group send the same text one after another."""
    global _last_frame
    last_text, last_frame = _last_frame
    if text == last_text:
        return last_frame
    payload = text.encode()
    size = len(payload)
    # RFC 6455 5.2: FIN and the text opcode, then the length in 7, 7+16 or 7+64 bits (no mask).
    if size < 126:
        header = bytes((_FIN_TEXT, size))
    elif size < 1 << 16:
        header = struct.pack("!BBH", _FIN_TEXT, 126, size)
    else:
        header = struct.pack("!BBQ", _FIN_TEXT, 127, size)
    frame = header + payload
    _last_frame = (text, frame)
    return frame


class _Frame:
    __slots__ = ("key", "progress", "text")

    def __init__(self, text: str, key: FrameKey | None, progress: bool) -> None:
        self.text = text
        self.key = key
        self.progress = progress


#: The queue of every socket with nothing to send (never appended to: a queue is made on demand).
_EMPTY: list[_Frame] = []


class Outbox:
    # One per open socket: slots, and the queue exists only while something waits in it.
    __slots__ = (
        "_drained", "_frames", "_newest", "_on_closed", "_send_frame", "_writer",
        "closed", "coalesced", "limit", "websocket",
    )  # fmt: skip

    def __init__(self, websocket: WebSocket, limit: int, on_closed: Callable[[], None] | None = None) -> None:
        self.websocket = websocket
        self.limit = limit
        self._frames: list[_Frame] = _EMPTY
        #: The newest queued frame per key (PROGRESS ones are replaced in place).
        self._newest: dict[FrameKey, _Frame] = {}
        self._writer: asyncio.Task[None] | None = None
        #: Set when the queue empties (only while someone waits for that).
        self._drained: asyncio.Event | None = None
        self._on_closed = on_closed
        extensions = websocket.scope.get("extensions") or {}
        self._send_frame: SendFrame | None = extensions.get(SEND_FRAME_EXTENSION)
        self.closed = False
        self.coalesced = 0

    def push(self, text: str, key: FrameKey | None = None, *, progress: bool = False) -> bool:
        """Send a frame, or queue it while the socket makes its writer wait; False when the socket
        is closed (or was just closed: more than `limit` frames waiting, it is too slow)."""
        if self.closed:
            return False
        send_frame = self._send_frame
        # Nothing waits before it and the socket is free: out at once if it takes it, with no
        # queue entry (so nothing to coalesce into either). Most frames of most sockets.
        if (
            self._frames is _EMPTY
            and self._writer is None
            and send_frame is not None
            and send_frame(text_frame(text))
        ):
            return True
        if key is not None:
            newest = self._newest.get(key)
            if progress and newest is not None and newest.progress:
                newest.text = text
                self.coalesced += 1
                return True
        if len(self._frames) >= self.limit:
            logger.warning(
                "subscriptions: socket closed, %s frames queued and it did not keep up", self.limit
            )
            self.close(CLOSE_TOO_SLOW, REASON_TOO_SLOW)
            return False
        frame = _Frame(text, key, progress)
        if self._frames is _EMPTY:
            self._frames = [frame]
        else:
            self._frames.append(frame)
        if key is not None:
            self._newest[key] = frame
        self.flush()
        return True

    def __len__(self) -> int:
        return len(self._frames)

    def flush(self) -> None:
        """Send the queued frames in order, in place while the socket takes them; from the first
        that must wait on, in a writer task."""
        frames = self._frames
        sent = 0
        for frame in frames:
            if self.closed or self._writer is not None:
                break
            sent += 1
            if frame.key is not None and self._newest.get(frame.key) is frame:
                del self._newest[frame.key]
            if self._send_frame is not None and self._send_frame(text_frame(frame.text)):
                continue
            try:
                writer = eager.start(self.websocket.send_text(frame.text))
            except Exception:  # the socket went away: nothing more to send on it
                self._gone()
                return
            if writer is not None:
                self._writer = writer
                writer.add_done_callback(self._written)
        if self._frames is frames:
            self._frames = frames[sent:] if sent < len(frames) else _EMPTY
        if not self._frames and self._drained is not None:
            self._drained.set()

    async def push_paced(self, texts: list[str]) -> None:
        """Send many frames (a subscriber catching up), waiting whenever half the queue is used
        rather than counting them against `limit`: a long catch-up is no slow socket."""
        for text in texts:
            while self._frames and len(self._frames) >= self.limit // 2 and not self.closed:
                self._drained = self._drained or asyncio.Event()
                self._drained.clear()
                await self._drained.wait()
            if not self.push(text):
                return

    def _written(self, writer: asyncio.Task[None]) -> None:
        self._writer = None
        if writer.cancelled() or writer.exception() is not None:
            self._gone()
            return
        self.flush()

    def close(self, code: int, reason: str) -> None:
        """Drop what is queued and close the socket with `code` and `reason`."""
        if self.closed:
            return
        self._gone()
        writer = self._writer
        if writer is not None:
            writer.cancel()
        asyncio.get_running_loop().create_task(self._close(code, reason))

    def close_when_sent(self, code: int, reason: str) -> None:
        """Close with `code` and `reason` once the frames queued now (and any queued meanwhile)
        are sent: the last words of a resynchronisation, then the close that qualifies them."""
        if self.closed:
            return
        if not self._frames:
            self.close(code, reason)
            return
        asyncio.get_running_loop().create_task(self._close_when_drained(code, reason))

    async def _close_when_drained(self, code: int, reason: str) -> None:
        while self._frames and not self.closed:
            self._drained = self._drained or asyncio.Event()
            self._drained.clear()
            await self._drained.wait()
        self.close(code, reason)

    def abandon(self) -> None:
        """The socket is gone: drop what is queued, take nothing more."""
        if not self.closed:
            self._gone()
        if self._writer is not None:
            self._writer.cancel()

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):  # already closed
            await self.websocket.close(code=code, reason=close_reason(reason))

    def _gone(self) -> None:
        self.closed = True
        self._frames = _EMPTY
        if self._drained is not None:
            self._drained.set()
        self._newest.clear()
        if self._on_closed is not None:
            self._on_closed()
