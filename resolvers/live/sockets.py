"""The signed-in WebSockets of one API process, watched so that ending access ends them even when
nothing flows on them: every `interval` seconds one query asks which of their tokens still sign
in (not revoked, not expired, account active), and the sockets of the others are closed with 4403
and the reason. District links are not watched here: a removed link refuses like any foreign
object at the next operation or event (`resolvers.live.access`).

The watch runs only while sockets are open (started by the first, ended after the last).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from starlette.websockets import WebSocket, WebSocketState

from models.tokens import ended_tokens

logger = logging.getLogger("updatedesk.live.sockets")

CLOSE_FORBIDDEN = 4403
#: Shortest pause between two sweeps, whatever the configured interval (0 in some tests).
MIN_SWEEP_SECONDS = 0.05


@dataclass(eq=False)  # one entry per socket, hashed by identity
class Watched:
    websocket: WebSocket
    token_id: int

    @property
    def gone(self) -> bool:
        return WebSocketState.DISCONNECTED in (self.websocket.client_state, self.websocket.application_state)


async def close_forbidden(websocket: WebSocket, reason: str) -> None:
    """Close with 4403 and a reason (no-op when another part closed it first)."""
    with contextlib.suppress(RuntimeError, OSError):
        await websocket.close(code=CLOSE_FORBIDDEN, reason=reason)


class SocketWatch:
    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self._watched: set[Watched] = set()
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._watched)

    def watch(self, websocket: WebSocket, token_id: int, interval: float) -> Watched:
        """Watch a socket signed in with `token_id` until it closes."""
        self.interval = interval
        entry = Watched(websocket, token_id)
        self._watched.add(entry)
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())
        return entry

    def forget(self, entry: Watched) -> None:
        self._watched.discard(entry)

    async def close(self) -> None:
        """Stop watching (the process is stopping)."""
        task, self._task = self._task, None
        self._watched.clear()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        try:
            while True:
                await asyncio.sleep(max(self.interval, MIN_SWEEP_SECONDS))
                self._watched = {entry for entry in self._watched if not entry.gone}
                if not self._watched:
                    return
                try:
                    await self.sweep()
                except Exception:  # the database is away: the next sweep tries again
                    logger.exception("could not check the tokens of open WebSockets")
        finally:
            if self._task is asyncio.current_task():
                self._task = None

    async def sweep(self) -> int:
        """Close the sockets whose token no longer signs in; how many were closed."""
        entries = list(self._watched)
        ended = await ended_tokens({entry.token_id for entry in entries})
        closing = [entry for entry in entries if entry.token_id in ended]
        for entry in closing:
            self._watched.discard(entry)
        await asyncio.gather(*(close_forbidden(e.websocket, ended[e.token_id]) for e in closing))
        return len(closing)
