"""The scheduler process's wake-up from other processes: it blocks on the dispatch wake lists
that the append of every waking record pushes a token to (`infra.bus.redis_stream`, in the same
script), instead of reading each of the stream's records (seven per runbook) to find the few
that matter. A token carries nothing; at most one waits per list, so a burst is one wake.

After Redis was away, one pass runs at once: tokens pushed meanwhile may be gone. The scheduler's
own due-time sleep and its fallback poll (``scheduler_interval``) stay as they were.

Stopping does not rely on cancelling a blocking Redis call (redis-py may turn a cancel that lands
mid-read into an error, or lose it): `stop()` ends the loop at its next pop, which blocks for at
most READ_BLOCK_SECONDS; `close()` waits that long, then cancels.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from redis.exceptions import RedisError

from infra.bus.redis import READER_SOCKET_TIMEOUT, reader_client
from infra.bus.redis_stream import dispatch_wake_key
from infra.bus.stream import READ_BLOCK_SECONDS, RECONNECT_BACKOFF_MAX, RECONNECT_BACKOFF_MIN
from models.running import DISPATCH_WAKES
from workers.scheduler import Scheduler

logger = logging.getLogger(__name__)

#: Every signal a scheduler wakes for.
SIGNALS = tuple(sorted(set(DISPATCH_WAKES.values())))


class DispatchWaker:
    """``run()`` until ``stop()``: each token popped is ``scheduler.signal(...)``."""

    def __init__(self, redis_url: str, namespace: str, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self.keys = {dispatch_wake_key(namespace, signal): signal for signal in SIGNALS}
        self._client = reader_client(redis_url)  # its socket timeout outlasts the blocking pop
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: Times Redis went away while it waited (each followed by one pass once it is back).
        self.outages = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="dispatch wake-up")

    def stop(self) -> None:
        self._stop.set()

    async def close(self) -> None:
        """Stop, wait for the loop (one blocking pop at most), then release the connection."""
        self.stop()
        if self._task is not None:
            done, _ = await asyncio.wait({self._task}, timeout=READER_SOCKET_TIMEOUT + 1)
            if not done:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    await asyncio.wait_for(self._task, 1)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._client.aclose(), READER_SOCKET_TIMEOUT)

    async def run(self) -> None:
        backoff = RECONNECT_BACKOFF_MIN
        lost = False
        while not self._stop.is_set():
            try:
                popped = await self._client.blpop(list(self.keys), timeout=READ_BLOCK_SECONDS)
            except (RedisError, OSError) as error:
                if self._stop.is_set():
                    return
                logger.warning("dispatch wake-up: Redis unreachable (%s); retrying in %.1fs", error, backoff)
                if not lost:
                    self.outages += 1
                lost = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), backoff)
                backoff = min(backoff * 2, RECONNECT_BACKOFF_MAX)
                continue
            backoff = RECONNECT_BACKOFF_MIN
            if lost:
                lost = False
                self.scheduler.wake()
            if popped:
                key = popped[0].decode() if isinstance(popped[0], bytes) else str(popped[0])
                self.scheduler.signal(self.keys[key])
