"""`Subscription.updateRequestEvents`: check the caller and the arguments, then hand the
operation to the process's live hub.

1. Before anything streams: the connection's token re-checked, the arguments resolved (a
   missing, malformed or foreign `updateRequestId` / `districtId` is the same NOT_FOUND; a
   malformed `after` is VALIDATION naming `after`), sent as the operation's first (and only)
   message, type `error`.
2. The subscription joins its render group at the hub's stream position (so every later record
   reaches it), then catches up in a task of its own (`catchup`): a SNAPSHOT, or the records
   after `after`; live frames wait behind the catch-up.
3. From then on the hub delivers: re-checked access at most every `ws_auth_recheck_seconds`,
   rendered once per group, the same text to every socket of the group.

The operation then has no task of its own: the resolver returns an empty stream and the
WebSocket handler keeps the operation open (see `updatedesk.ws`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from infra.bus.records import id_key
from resolvers.context import GraphQLContext
from resolvers.errors import PublicError, ServiceCode, unauthenticated
from resolvers.live.access import CLOSE_FORBIDDEN
from resolvers.live.catchup import catch_up
from resolvers.live.dispatch import log_failure
from resolvers.live.groups import LiveSlot, Member
from resolvers.live.hub import LiveHub
from resolvers.live.outbox import close_reason
from resolvers.live.scope import resolve_scope, resume_after

logger = logging.getLogger("updatedesk.subscriptions")


async def _taken_over() -> AsyncIterator[Any]:
    return
    yield  # an async generator that ends at once


async def open_update_request_events(
    context: GraphQLContext,
    slot: object,
    district_id: str | None,
    update_request_id: str | None,
    after: str | None,
) -> AsyncIterator[Any]:
    context.require_auth()
    hub = context.hub
    if not isinstance(hub, LiveHub) or not isinstance(slot, LiveSlot):
        raise PublicError(
            ServiceCode.UNAVAILABLE, "Live events are served over WebSocket /graphql (graphql-transport-ws)."
        )
    access = slot.connection.access
    actor = await access.refresh()  # a check younger than the re-check interval stands
    if actor is None:
        slot.connection.outbox.close(CLOSE_FORBIDDEN, close_reason(access.reason))
        raise unauthenticated(access.reason)
    scope = await resolve_scope(actor, district_id, update_request_id)
    after_id = resume_after(after)
    # Only a cursor the stream has can be ahead of this process's reader; one it never had (a
    # lost stream's, another deployment's) starts with SNAPSHOTs and must not hold live ones back.
    kept = False
    if after_id is not None and id_key(after_id) > id_key(hub.position):  # the position only grows
        kept = await hub.stream.retains(after_id)
    member, joined_at = await hub.join(slot, scope, actor)
    if kept and after_id is not None and id_key(after_id) > id_key(joined_at):
        member.skip_through = id_key(after_id)  # the client is ahead of this process's reader
    slot.member = member
    member.task = asyncio.get_running_loop().create_task(_start(hub, member, after_id, joined_at))
    return _taken_over()


async def _start(hub: LiveHub, member: Member, after: str | None, joined_at: str) -> None:
    """The catch-up of a subscription that listens already (its own task, so that the socket
    reads its next message meanwhile)."""
    try:
        await catch_up(hub, member, after, joined_at)
    except Exception as error:
        log_failure(logger, error, "subscription %s could not catch up; it is completed", member.operation_id)
        hub.end(member)  # live frames behind the failed catch-up are dropped: `complete` now
    finally:
        member.task = None
