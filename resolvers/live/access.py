"""A subscriber's access while its subscription runs, and how its socket is closed.

Close codes (the whole WebSocket is closed; the reason says why):
- 4403 "Forbidden": the connection's token stopped being valid (revoked, expired, account off).
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
        now = time.monotonic()
        if force or now - self._checked_at >= self.interval:
            context = self.context
            probe = GraphQLContext(context.request, context.settings, context.response, context.hub)

            async def sign_in() -> object:
                await probe.sign_in_with_params(context.connection_params)
                return probe

            key = authorization_from_params(context.connection_params) or ""
            checked_at, result = await self.hub.sign_ins.get(key, sign_in, self.interval, force=force)
            context.adopt_sign_in(cast(GraphQLContext, result))
            if context.auth is None:
                error = context.auth_error
                reason = error.message if error is not None else "The token is no longer valid."
                await close_connection(context, CLOSE_FORBIDDEN, reason)
            # The time of the lookup, not of its reuse: a revoked token is still noticed within
            # `interval` of the revocation.
            self._checked_at = checked_at
        return self.context.actor
