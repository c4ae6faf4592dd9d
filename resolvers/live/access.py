"""A WebSocket's access while its operations run, and why it is closed.

Every operation on a WebSocket re-checks the connection's token, account and district links
(`recheck_connection`, at most every `ws_auth_recheck_seconds`, shared per token), subscriptions
through their `AccessCheck` as events come; the hub watches the tokens of idle sockets too
(`resolvers.live.sockets`).

Close codes (the whole WebSocket is closed; the reason says what to do):
- 4403 (`CLOSE_FORBIDDEN`): the connection's token stopped being valid (revoked, expired,
  account switched off); the reason is the sign-in's own message.
- 1013 "Try Again Later" (`outbox.CLOSE_TRY_AGAIN`): the socket fell too far behind, or its
  `connection_init` came while the token could not be checked (the database did not answer:
  no verdict on the token, `updatedesk.ws.refusal`). A re-check that cannot be made on an open
  socket closes nothing (`AccessCheck.adopt`).
- 1012 "Service Restart": the process is stopping (uvicorn closes every socket); reconnect to
  any API process with `after` set to the last cursor.
Protocol codes of graphql-transport-ws (4400, 4401, 4406, 4408, 4409, 4429) come from the handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Iterable
from typing import cast

from starlette.websockets import WebSocket

from models.access import Actor
from models.enums import ErrorCode
from resolvers.context import GraphQLContext, authorization_from_params
from resolvers.errors import PublicError, ServiceCode
from resolvers.live.lookups import SharedLookups

CLOSE_FORBIDDEN = 4403
REASON_TOKEN_GONE = "The token is no longer valid: sign in again and reconnect with a new token."
#: A re-check could not be made (the database did not answer): this operation fails, the
#: connection keeps its sign-in and the next operation tries again.
REASON_UNCHECKED = "Your access could not be checked just now; try again in a moment."


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

    def adopt(self, checked_at: float, outcome: object) -> bool:
        """Take the re-check's outcome; False when it could not be made (the database did not
        answer): that is no verdict on the token, so the last sign-in stands and the next
        event tries again."""
        signed_in = cast(GraphQLContext, outcome)
        if signed_in.auth_fault:
            return False
        self.context.adopt_sign_in(signed_in)
        # The time of the lookup, not of its reuse: a revoked token is still noticed within
        # `interval` of the revocation.
        self.checked_at = checked_at
        return True

    async def refresh(self, *, force: bool = False) -> Actor | None:
        """Re-check the token if due (or `force`); the actor, or None when it is no longer valid.
        A re-check that cannot be made fails this operation alone (UNAVAILABLE)."""
        if (force or self.stale()) and not self.adopt(*await self.lookup(force=force)):
            raise PublicError(ServiceCode.UNAVAILABLE, REASON_UNCHECKED)
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


# --------------------------------------------------------------------------- queries, mutations


async def close_forbidden(context: GraphQLContext, reason: str) -> None:
    """Close the connection's WebSocket with 4403 and park until the handler cancels this
    operation (it does once the socket is gone); over HTTP, UNAUTHENTICATED."""
    websocket = context.request
    if not isinstance(websocket, WebSocket):
        raise PublicError(ErrorCode.UNAUTHENTICATED, reason)
    with contextlib.suppress(RuntimeError):  # already closed by another operation
        await websocket.close(code=CLOSE_FORBIDDEN, reason=reason)
    await asyncio.Future()


async def recheck(context: GraphQLContext, interval: float, *, force: bool = False) -> float:
    """Re-authenticate the connection's token (token, account and district links, read afresh),
    sharing one lookup per token for `interval` seconds through the process's hub, and adopt the
    outcome on `context`. A token that no longer signs in closes the socket with 4403 and the
    reason (this never returns then). Returns when the lookup it used started (monotonic)."""
    probe = GraphQLContext(context.request, context.settings, context.response, context.hub)

    async def sign_in() -> object:
        await probe.sign_in_with_params(context.connection_params)
        return probe

    sign_ins = getattr(context.hub, "sign_ins", None)
    if isinstance(sign_ins, SharedLookups):
        key = authorization_from_params(context.connection_params) or ""
        checked_at, result = await sign_ins.get(key, sign_in, interval, force=force)
    else:
        checked_at, result = time.monotonic(), await sign_in()
    outcome = cast(GraphQLContext, result)
    if outcome.auth_fault:
        raise PublicError(ServiceCode.UNAVAILABLE, REASON_UNCHECKED)
    context.adopt_sign_in(outcome)
    if context.auth is None:
        error = context.auth_error
        reason = error.message if error is not None else REASON_TOKEN_GONE
        await close_forbidden(context, reason)
    return checked_at


async def recheck_connection(context: GraphQLContext) -> None:
    """Before every operation on a WebSocket (queries and mutations too): the re-check, at most
    every `ws_auth_recheck_seconds` per connection and shared per token (`recheck`)."""
    interval = context.settings.ws_auth_recheck_seconds
    if time.monotonic() - context.rechecked_at >= interval:
        context.rechecked_at = await recheck(context, interval)


def connection_signed_in(context: GraphQLContext) -> None:
    """After sign-in on a WebSocket (`connection_init`): checked now, and watched by the hub, which
    closes it within a second of its token being revoked or expiring or its account switched off,
    even when nothing flows on it."""
    context.rechecked_at = time.monotonic()
    websocket, auth = context.request, context.auth
    sockets = getattr(context.hub, "sockets", None)
    if sockets is not None and isinstance(websocket, WebSocket) and auth is not None:
        sockets.watch(websocket, auth.token_id, context.settings.ws_auth_recheck_seconds)
