"""A subscriber's access while its subscription runs, and how its socket is closed.

Every operation on a WebSocket re-checks the connection's token, account and district links
(`recheck_connection`, at most every `ws_auth_recheck_seconds`, shared per token), and the hub
watches the tokens of idle sockets too (`resolvers.live.sockets`).

Close codes (the whole WebSocket is closed; the reason says why):
- 4403: the connection's token stopped being valid (revoked, expired, account off); the reason
  says which and what to do.
- 1013 "Try Again Later" (`CLOSE_TOO_SLOW`): a subscription fell `ws_subscriber_queue` events
  behind (progress coalesced) and would have lost a status change. Reconnect and subscribe again:
  the SNAPSHOT brings the state back.
- 1012 "Service Restart" (`CLOSE_SHUTTING_DOWN`): the process is stopping (its bus closed).
Protocol codes of graphql-transport-ws (4400, 4401, 4406, 4408, 4409, 4429) come from the handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import cast

from starlette.websockets import WebSocket

from models.access import Actor
from models.enums import ErrorCode
from resolvers.context import GraphQLContext, authorization_from_params
from resolvers.errors import PublicError, ServiceCode
from resolvers.live.hub import LiveHub

CLOSE_FORBIDDEN = 4403
CLOSE_TOO_SLOW = 1013
CLOSE_SHUTTING_DOWN = 1012
REASON_TOO_SLOW = "Too slow: events arrived faster than this connection read them. Subscribe again."
REASON_SHUTTING_DOWN = "Server restarting: reconnect and subscribe again."


async def close_connection(context: GraphQLContext, code: int, reason: str) -> None:
    """Close the subscriber's WebSocket and park until the handler cancels this operation (it
    does once the socket is gone); returning would make it send on a closed socket."""
    websocket = context.request
    if not isinstance(websocket, WebSocket):
        raise PublicError(
            ErrorCode.UNAUTHENTICATED if code == CLOSE_FORBIDDEN else ServiceCode.UNAVAILABLE, reason
        )
    with contextlib.suppress(RuntimeError):  # already closed by another operation
        await websocket.close(code=code, reason=reason)
    await asyncio.Future()


#: A re-check could not be made (the database did not answer): this operation fails, the
#: connection keeps its sign-in and the next operation tries again.
REASON_UNCHECKED = "Your access could not be checked just now; try again in a moment."


async def recheck(context: GraphQLContext, interval: float, *, force: bool = False) -> float:
    """Re-authenticate the connection's token (token, account and district links, read afresh),
    sharing one lookup per token for `interval` seconds through the process's hub, and adopt the
    outcome on `context`. A token that no longer signs in closes the socket with 4403 and the
    reason (this never returns then). Returns when the lookup it used started (monotonic)."""
    probe = GraphQLContext(context.request, context.settings, context.response, context.hub)

    async def sign_in() -> object:
        await probe.sign_in_with_params(context.connection_params)
        return probe

    if context.hub is not None:
        key = authorization_from_params(context.connection_params) or ""
        checked_at, result = await context.hub.sign_ins.get(key, sign_in, interval, force=force)
    else:
        checked_at, result = time.monotonic(), await sign_in()
    outcome = cast(GraphQLContext, result)
    if outcome.auth_fault:
        raise PublicError(ServiceCode.UNAVAILABLE, REASON_UNCHECKED)
    context.adopt_sign_in(outcome)
    if context.auth is None:
        error = context.auth_error
        reason = error.message if error is not None else "The token is no longer valid."
        await close_connection(context, CLOSE_FORBIDDEN, reason)
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
    if context.hub is not None and isinstance(websocket, WebSocket) and auth is not None:
        context.hub.sockets.watch(websocket, auth.token_id, context.settings.ws_auth_recheck_seconds)


class AccessCheck:
    """The subscriber's current access: re-authenticates the connection's token at most every
    `interval` seconds (the token may be revoked, the district links changed meanwhile). Re-checks
    of one token are shared by every subscription of the process using it (the hub)."""

    def __init__(self, context: GraphQLContext, hub: LiveHub, interval: float) -> None:
        self.context = context
        self.hub = hub
        self.interval = interval
        self._checked_at = float("-inf")

    async def actor(self, *, force: bool = False) -> Actor:
        if force or time.monotonic() - self._checked_at >= self.interval:
            # The time of the lookup, not of its reuse: a revoked token is still noticed within
            # `interval` of the revocation.
            self._checked_at = await recheck(self.context, self.interval, force=force)
        return self.context.actor
