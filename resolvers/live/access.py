"""A WebSocket's access while its subscriptions run, and why it is closed.

Close codes (the whole WebSocket is closed; the reason says what to do):
- 4403 (`CLOSE_FORBIDDEN`): the connection's token stopped being valid (revoked, expired,
  account switched off); the reason is the sign-in's own message.
- 1013 "Try Again Later" (`outbox.CLOSE_TOO_SLOW`): the socket fell too far behind.
- 1012 "Service Restart": the process is stopping (uvicorn closes every socket); reconnect to
  any API process with `after` set to the last cursor.
Protocol codes of graphql-transport-ws (4400, 4401, 4406, 4408, 4409, 4429) come from the handler.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Iterable
from typing import cast

from models.access import Actor
from resolvers.context import GraphQLContext, authorization_from_params
from resolvers.live.lookups import SharedLookups

CLOSE_FORBIDDEN = 4403
REASON_TOKEN_GONE = "The token is no longer valid: sign in again and reconnect with a new token."


class AccessCheck:
    """The connection's current access: its token re-authenticated at most every `interval`
    seconds (it may be revoked, the district links changed meanwhile). Re-checks of one token
    are shared by every connection of the process using it (`sign_ins`, and `refresh_all`)."""

    __slots__ = ("_key", "checked_at", "context", "interval", "sign_ins")

    def __init__(
        self, context: GraphQLContext, sign_ins: SharedLookups[str, object], interval: float
    ) -> None:
        self.context = context
        self.sign_ins = sign_ins
        self.interval = interval
        self.checked_at = float("-inf")
        self._key: str | None = None

    def stale(self, now: float | None = None) -> bool:
        return (now if now is not None else time.monotonic()) - self.checked_at >= self.interval

    @property
    def key(self) -> str:
        """The token's Authorization value: re-checks are shared by it (fixed once the socket
        has sent connection_init)."""
        if self._key is None:
            params = self.context.connection_params
            if params is None:
                return ""
            self._key = authorization_from_params(params) or ""
        return self._key

    @property
    def actor(self) -> Actor | None:
        auth = self.context.auth
        return auth.actor if auth is not None else None

    @property
    def reason(self) -> str:
        """Why the connection may no longer subscribe (a person can act on it)."""
        error = self.context.auth_error
        return f"{error.message.rstrip('.')}: sign in again and reconnect." if error else REASON_TOKEN_GONE

    async def lookup(self, *, force: bool = False) -> tuple[float, object]:
        """The shared re-check of this connection's token: (when it started, its outcome)."""
        context = self.context
        probe = GraphQLContext(context.request, context.settings, context.response, context.hub)

        async def sign_in() -> object:
            await probe.sign_in_with_params(context.connection_params)
            return probe

        return await self.sign_ins.get(self.key, sign_in, self.interval, force=force)

    def adopt(self, checked_at: float, outcome: object) -> None:
        self.context.adopt_sign_in(cast(GraphQLContext, outcome))
        # The time of the lookup, not of its reuse: a revoked token is still noticed within
        # `interval` of the revocation.
        self.checked_at = checked_at

    async def refresh(self, *, force: bool = False) -> Actor | None:
        """Re-check the token if due (or `force`); the actor, or None when it is no longer valid."""
        if force or self.stale():
            self.adopt(*await self.lookup(force=force))
        return self.actor


async def refresh_all(checks: Iterable[AccessCheck], *, force: bool = False) -> bool:
    """Re-check every due connection (all with `force`): one lookup per token, however many
    connections use it. Whether any was re-checked."""
    now = time.monotonic()
    by_token: defaultdict[str, list[AccessCheck]] = defaultdict(list)
    for check in checks:
        if force or check.stale(now):
            by_token[check.key].append(check)
    if not by_token:
        return False
    outcomes = await asyncio.gather(*(group[0].lookup(force=force) for group in by_token.values()))
    for group, (checked_at, outcome) in zip(by_token.values(), outcomes, strict=True):
        for check in group:
            check.adopt(checked_at, outcome)
    return True
