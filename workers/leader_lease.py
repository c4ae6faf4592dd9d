"""One holder at a time among processes: a lease in Redis that its holder renews.

``RedisLease(client, key)``: ``acquire()`` takes the key if no one holds it (``SET NX PX``),
``renew()`` extends it only while it is still ours, ``release()`` gives it up only if it is still
ours (both compare the holder's random token in one script, so a holder whose lease lapsed can
neither extend nor delete its successor's). A holder that dies stops renewing: the key expires
after ``ttl`` seconds and another process takes it. ``LocalLease`` is the one-process version
(the embedded default): always held.
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol

import redis.asyncio as aioredis

#: Seconds a lease lasts without renewal; its holder renews every third of it.
DEFAULT_TTL = 15.0

RENEW_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Lease(Protocol):
    #: Seconds the lease lasts without renewal.
    ttl: float

    async def acquire(self) -> bool: ...

    async def renew(self) -> bool: ...

    async def release(self) -> None: ...


class RedisLease:
    def __init__(self, client: aioredis.Redis, key: str, ttl: float = DEFAULT_TTL) -> None:
        self.client = client
        self.key = key
        self.ttl = ttl
        #: Who holds it, for the logs (and a test's eyes): unique per lease object.
        self.token = uuid.uuid4().hex
        self._renew = client.register_script(RENEW_SCRIPT)
        self._release = client.register_script(RELEASE_SCRIPT)

    @property
    def _millis(self) -> int:
        return max(int(self.ttl * 1000), 1)

    async def acquire(self) -> bool:
        """Take the lease if it is free (or already ours: then it is renewed)."""
        if await self.client.set(self.key, self.token, nx=True, px=self._millis):
            return True
        return await self.renew()

    async def renew(self) -> bool:
        """Extend the lease; False when it is no longer ours (it lapsed and someone took it)."""
        answer: Any = await self._renew(keys=[self.key], args=[self.token, self._millis])
        return bool(answer)

    async def release(self) -> None:
        await self._release(keys=[self.key], args=[self.token])


class LocalLease:
    """The embedded default: one process, so this one always holds it."""

    def __init__(self, ttl: float = DEFAULT_TTL) -> None:
        #: Its "renewals" pace the holder's periodic work (the lag gauge).
        self.ttl = ttl

    async def acquire(self) -> bool:
        return True

    async def renew(self) -> bool:
        return True

    async def release(self) -> None:
        return None
