"""One subscription's stream: arguments checked, then events filtered per subscriber.

Flow:
1. Before anything streams: re-authenticate the connection's token and resolve the arguments.
   A missing, malformed or foreign `updateRequestId` / `districtId` is the same NOT_FOUND error,
   sent as the operation's first (and only) message, type `error`.
2. Subscribe to the process's bus FIRST, then read the database for the SNAPSHOT (with
   `updateRequestId`), so no change falls between the two.
3. Per event: cheap filter on the ids, then re-check access (at most every
   `ws_auth_recheck_seconds`, ≤ 1 s) and the district against the fresh district links, then the
   request as it now is (deleted and cancelled rows too, for REMOVED), read once per event.
4. A bus `Gap` (the Redis listener re-subscribed after an outage): a single-request subscription
   gets a fresh SNAPSHOT; the others a SNAPSHOT (REMOVED when cancelled or deleted) of each request
   in their scope changed since the outage began.
5. A single-request subscription completes after its REMOVED event (nothing follows it). Losing
   sight of the narrowed district or request (link removed) ends the operation with NOT_FOUND; an
   unnarrowed one just stops receiving that district's events.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import datetime, timedelta

from infra.bus import Gap, SubscriberOverflow
from infra.metrics import OPEN_SUBSCRIPTIONS
from models.access import Actor
from models.clock import utcnow
from models.enums import ErrorCode, EventType
from models.events import ProgressReport, UpdateRequestChanged
from models.requests.queries import changed_since, is_removed, stored_progress
from models.tables import District, UpdateRequest
from resolvers.context import GraphQLContext
from resolvers.errors import PublicError, ServiceCode
from resolvers.ids import decode_id_of
from resolvers.live.access import (
    CLOSE_SHUTTING_DOWN,
    CLOSE_TOO_SLOW,
    REASON_SHUTTING_DOWN,
    REASON_TOO_SLOW,
    AccessCheck,
    close_connection,
)
from resolvers.live.hub import LiveHub

logger = logging.getLogger("updatedesk.subscriptions")

#: After a bus gap, requests changed this long before the gap began are resent too (clock skew
#: between the processes that stamp `updated_at`), at most RESYNC_LIMIT of them.
RESYNC_MARGIN = timedelta(seconds=5)
RESYNC_LIMIT = 500


@dataclass(frozen=True)
class LiveEvent:
    """One event for the subscriber: the request as it now is."""

    type: EventType
    update_request: UpdateRequest
    progress: ProgressReport | None
    at: datetime


@dataclass(frozen=True)
class EventScope:
    """What one subscription asked for (primary keys, already checked against the caller)."""

    district_id: int | None = None
    request_id: int | None = None

    def matches(self, event: UpdateRequestChanged) -> bool:
        if self.request_id is not None and event.update_request_id != self.request_id:
            return False
        return self.district_id is None or event.district_id == self.district_id


def _request_not_found() -> PublicError:
    return PublicError(ErrorCode.NOT_FOUND, "No update request with that id.", "updateRequestId")


def _district_not_found() -> PublicError:
    return PublicError(ErrorCode.NOT_FOUND, "No district with that id.", "districtId")


async def resolve_scope(actor: Actor, district_id: str | None, update_request_id: str | None) -> EventScope:
    """The subscription's arguments as primary keys; foreign and missing ids are both NOT_FOUND."""
    district_pk = None
    if district_id is not None:
        district_pk = decode_id_of(district_id, "District")
        if (
            district_pk is None
            or not actor.can_see(district_pk)
            or not await District.filter(id=district_pk).exists()
        ):
            raise _district_not_found()
    request_pk = None
    if update_request_id is not None:
        request_pk = decode_id_of(update_request_id, "UpdateRequest")
        row = await UpdateRequest.get_or_none(id=request_pk) if request_pk is not None else None
        if (
            row is None
            or row.deleted_at is not None
            or not actor.can_see(row.district_id)
            or (district_pk is not None and row.district_id != district_pk)
        ):
            raise _request_not_found()
    return EventScope(district_pk, request_pk)


async def open_update_request_events(
    context: GraphQLContext, district_id: str | None, update_request_id: str | None
) -> AsyncGenerator[LiveEvent, None]:
    """Check the caller and the arguments now (errors become the operation's first message), then
    hand back the stream."""
    context.require_auth()
    hub = context.hub
    if hub is None:
        raise PublicError(ServiceCode.UNAVAILABLE, "Live events are not available on this server.")
    settings = context.settings
    access = AccessCheck(context, hub, settings.ws_auth_recheck_seconds)
    actor = await access.actor(force=True)
    scope = await resolve_scope(actor, district_id, update_request_id)
    return _stream(context, hub, scope, access, settings.ws_subscriber_queue)


async def _stream(
    context: GraphQLContext, hub: LiveHub, scope: EventScope, access: AccessCheck, max_queued: int
) -> AsyncGenerator[LiveEvent, None]:
    subscription = hub.bus.subscribe(max_queued, overflow="close")  # first: then the snapshot
    OPEN_SUBSCRIPTIONS.inc()
    try:
        if scope.request_id is not None:
            snapshot = await _snapshot(context, access, scope.request_id)
            yield snapshot
            if snapshot.type is EventType.REMOVED:
                return
        while True:
            try:
                item = await subscription.next_item()
            except SubscriberOverflow:
                logger.warning("subscription closed: the subscriber did not keep up (%s queued)", max_queued)
                await close_connection(context, CLOSE_TOO_SLOW, REASON_TOO_SLOW)
                return
            except StopAsyncIteration:
                await close_connection(context, CLOSE_SHUTTING_DOWN, REASON_SHUTTING_DOWN)
                return
            if isinstance(item, Gap):
                if scope.request_id is not None:
                    snapshot = await _snapshot(context, access, scope.request_id)
                    yield snapshot
                    if snapshot.type is EventType.REMOVED:
                        return
                elif item.since is not None:
                    async for event in _changed_since(context, access, scope, item.since):
                        yield event
                continue
            if not scope.matches(item):
                continue
            actor = await access.actor()
            row = await hub.row_for(item) if actor.can_see(item.district_id) else None
            if row is None or not actor.can_see(row.district_id):
                if scope.request_id is not None:
                    raise _request_not_found()
                if scope.district_id is not None:
                    raise _district_not_found()
                continue
            context.renew_loaders()
            yield LiveEvent(item.type, row, item.progress or stored_progress(row), item.at)
            if scope.request_id is not None and item.type is EventType.REMOVED:
                return
    finally:
        OPEN_SUBSCRIPTIONS.dec()
        subscription.close()


async def _changed_since(
    context: GraphQLContext, access: AccessCheck, scope: EventScope, since: datetime
) -> AsyncGenerator[LiveEvent, None]:
    """After a gap: a SNAPSHOT (REMOVED when cancelled or deleted) of every visible request in
    scope that changed since the gap began, oldest change first, at most RESYNC_LIMIT."""
    actor = await access.actor(force=True)
    if scope.district_id is not None and not actor.can_see(scope.district_id):
        raise _district_not_found()
    taken = utcnow()
    for row in await changed_since(actor, since - RESYNC_MARGIN, scope.district_id).limit(RESYNC_LIMIT):
        context.renew_loaders()
        kind = EventType.REMOVED if is_removed(row) else EventType.SNAPSHOT
        yield LiveEvent(kind, row, stored_progress(row), taken)


async def _snapshot(context: GraphQLContext, access: AccessCheck, request_id: int) -> LiveEvent:
    actor = await access.actor(force=True)
    row = await UpdateRequest.get_or_none(id=request_id)
    if row is None or not actor.can_see(row.district_id):
        raise _request_not_found()
    context.renew_loaders()
    kind = EventType.REMOVED if row.deleted_at is not None else EventType.SNAPSHOT
    return LiveEvent(kind, row, stored_progress(row), utcnow())
