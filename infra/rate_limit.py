"""Token buckets: a budget that refills evenly over time, spent by cost.

`take` is the rule as a pure function. `LocalBuckets` keeps buckets in this process (the embedded
default, and a WebSocket's own subscribe budget); `RedisBuckets` keeps them in Redis, so every API
process of a deployment spends from the same per-account budget. Both take the time from a clock
passed in, so tests drive time instead of waiting for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

#: A clock in seconds; only differences matter.
Clock = Callable[[], float]
#: Buckets not touched for this many refill periods are forgotten (they would be full anyway).
IDLE_PERIODS = 2


@dataclass(frozen=True)
class Bucket:
    tokens: float
    at: float


@dataclass(frozen=True)
class Decision:
    allowed: bool
    #: Tokens left after this decision.
    remaining: float
    #: Seconds until the refused cost would fit (0 when allowed).
    retry_after: float


def take(
    bucket: Bucket | None, now: float, cost: float, capacity: float, per_second: float
) -> tuple[Decision, Bucket]:
    """Spend `cost` from `bucket` (None: a full one) at time `now`. A refused cost spends nothing.
    A clock that went backwards refills nothing rather than failing."""
    if bucket is None:
        bucket = Bucket(tokens=capacity, at=now)
    tokens = min(capacity, bucket.tokens + max(0.0, now - bucket.at) * per_second)
    at = max(now, bucket.at)
    if cost > tokens:
        return Decision(False, tokens, (cost - tokens) / per_second), Bucket(tokens, at)
    return Decision(True, tokens - cost, 0.0), Bucket(tokens - cost, at)


class Buckets(Protocol):
    """Named buckets of one capacity and refill rate."""

    capacity: float
    per_second: float

    async def take(self, key: str, cost: float) -> Decision: ...


class LocalBuckets:
    """Buckets in this process's memory; idle ones are dropped as new ones are made."""

    def __init__(self, capacity: float, per_second: float, clock: Clock = time.monotonic) -> None:
        self.capacity = capacity
        self.per_second = per_second
        self.clock = clock
        self._buckets: dict[str, Bucket] = {}

    async def take(self, key: str, cost: float) -> Decision:
        return self.take_now(key, cost)

    def take_now(self, key: str, cost: float) -> Decision:
        now = self.clock()
        if key not in self._buckets:
            self._forget_idle(now)
        decision, self._buckets[key] = take(self._buckets.get(key), now, cost, self.capacity, self.per_second)
        return decision

    def _forget_idle(self, now: float) -> None:
        idle = IDLE_PERIODS * self.capacity / self.per_second
        for key in [k for k, b in self._buckets.items() if now - b.at > idle]:
            del self._buckets[key]


#: The same rule as `take`, run inside Redis so that concurrent processes never both spend the
#: last tokens. Numbers go back as strings: Redis would truncate Lua floats to integers.
_TAKE_SCRIPT = """
local capacity = tonumber(ARGV[1])
local per_second = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
if now > at then
  tokens = math.min(capacity, tokens + (now - at) * per_second)
  at = now
end
if cost > tokens then
  return {0, tostring(tokens)}
end
tokens = tokens - cost
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at))
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {1, tostring(tokens)}
"""


class RedisBuckets:
    """Buckets in Redis under `prefix`, shared by every process that uses the same prefix. The
    clock is wall time (processes on several machines must agree on it)."""

    def __init__(
        self, client: Any, prefix: str, capacity: float, per_second: float, clock: Clock = time.time
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.capacity = capacity
        self.per_second = per_second
        self.clock = clock
        self._script = client.register_script(_TAKE_SCRIPT)
        self._ttl_ms = int(IDLE_PERIODS * 1000 * capacity / per_second) + 1000

    async def take(self, key: str, cost: float) -> Decision:
        allowed, remaining = await self._script(
            keys=[f"{self.prefix}:{key}"],
            args=[self.capacity, self.per_second, repr(self.clock()), cost, self._ttl_ms],
        )
        left = float(remaining)
        if int(allowed):
            return Decision(True, left, 0.0)
        return Decision(False, left, (cost - left) / self.per_second)
