"""The scheduler process's wake-up from other processes: it blocks on the dispatch wake lists
that the append of every waking record pushes a token to (`infra.bus.redis_stream`, in the same
script), instead of reading each of the stream's records (seven per runbook) to find the few
that matter. A token carries nothing; at most one waits per list, so a burst is one wake.

After Redis was away, one pass runs at once: tokens pushed meanwhile may be gone. The scheduler's
own due-time sleep and its fallback poll (``scheduler_interval``) stay as they were.
"""

from __future__ import annotations

import asyncio
import logging

from redis.exceptions import RedisError

from infra.bus.redis import reader_client
from infra.bus.redis_stream import dispatch_wake_key
from infra.bus.stream import READ_BLOCK_SECONDS, RECONNECT_BACKOFF_MAX, RECONNECT_BACKOFF_MIN, cancel_pending
from models.running import DISPATCH_WAKES
from workers.scheduler import Scheduler

logger = logging.getLogger(__name__)

#: Every signal a scheduler wakes for.
SIGNALS = tuple(sorted(set(DISPATCH_WAKES.values())))


async def wake_on_signals(redis_url: str, namespace: str, scheduler: Scheduler) -> None:
    """Until cancelled: each token popped is `scheduler.signal(...)`."""
    client = reader_client(redis_url)  # its socket timeout outlasts the blocking pop
    keys = {dispatch_wake_key(namespace, signal): signal for signal in SIGNALS}
    backoff = RECONNECT_BACKOFF_MIN
    lost = False
    try:
        while True:
            try:
                popped = await client.blpop(list(keys), timeout=READ_BLOCK_SECONDS)
            except (RedisError, OSError) as error:
                if cancel_pending():  # a cancel that redis-py turned into a connection error
                    raise asyncio.CancelledError from error
                logger.warning("dispatch wake-up: Redis unreachable (%s); retrying in %.1fs", error, backoff)
                lost = True
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, RECONNECT_BACKOFF_MAX)
                continue
            backoff = RECONNECT_BACKOFF_MIN
            if lost:
                lost = False
                scheduler.wake()
            if popped:
                key = popped[0].decode() if isinstance(popped[0], bytes) else str(popped[0])
                scheduler.signal(keys[key])
    finally:
        await client.aclose()
